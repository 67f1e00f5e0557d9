import Foundation

/// The communicator of a job with one rank: every collective is the identity.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var activity = "start-up"
    public func allreduceSum(_ buffer: inout [Float]) {}
    public func allreduceSum(_ buffer: inout [Double]) {}
    public func allreduceMax(_ buffer: inout [Double]) {}
    public func barrier() {}
    public func broadcast(_ buffer: inout [UInt8], root: Int) {}
    public func allgather(_ local: [Double]) -> [Double] { local }
    public func gather(_ local: [Float], root: Int) -> [Float] { local }
    public func send(_ values: [Float], to: Int) { preconditionFailure("a single process has no peer to send to") }
    public func receive(count: Int, from: Int) -> [Float] { preconditionFailure("a single process has no peer to receive from") }
    public func split(color: Int, key: Int) -> any Communicator { SingleProcessCommunicator() }
    public func abort(message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("capg: error: \(message)\n".utf8))
        exit(code)
    }
}
