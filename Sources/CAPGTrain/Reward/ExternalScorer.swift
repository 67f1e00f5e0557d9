import Foundation

/// Rewards from an external scorer process (a generator or judge), over the protocol of
/// `proto/capg/v1/scorer.proto`: a handshake (versions must match), then per training step
/// one `RewardBatch` with all of this rank's rollouts and one `RewardReply` back. Every wait
/// is bounded by `timeout`; a scorer that exits, hangs, answers garbage (undecodable bytes,
/// an oversize length, the wrong batch id or reward count, a non-finite reward) or reports
/// a failure becomes a `ScorerError` naming the scorer, rank and step.
public final class ExternalScorer: RewardSource {
    /// The command or socket path (for messages).
    public let name: String
    public let rank: Int
    public let timeout: Double
    /// The scorer's own name from its HelloReply.
    public private(set) var scorerName = ""
    private let channel: ScorerChannel
    private let process: ScorerProcess?
    private var nextBatch: UInt64 = 1
    private var closed = false

    /// A scorer per rank: starts `command` and shakes hands.
    public convenience init(command: String, hello: ScorerMessage.Hello, timeout: Double) throws {
        let p = try ScorerProcess(command: command, rank: hello.rank, ranks: hello.ranks)
        try self.init(name: command, channel: p.channel, process: p, hello: hello, timeout: timeout)
    }

    /// A shared scorer: connects to the Unix socket `path` and shakes hands.
    public convenience init(socket path: String, hello: ScorerMessage.Hello, timeout: Double) throws {
        let c = try ScorerSocket.connect(path: path, timeout: timeout)
        try self.init(name: path, channel: c, process: nil, hello: hello, timeout: timeout)
    }

    private init(name: String, channel: ScorerChannel, process: ScorerProcess?, hello: ScorerMessage.Hello,
                 timeout: Double) throws {
        self.name = name; self.rank = hello.rank; self.timeout = timeout
        self.channel = channel; self.process = process
        do {
            let reply = try exchange(ScorerMessage.encode(hello), step: nil, waitingFor: "the reply to Hello")
            guard case .hello(let version, let scorer) = reply else {
                throw ScorerError.garbage(scorer: name, rank: rank, step: nil, reason: "expected HelloReply, got \(reply)")
            }
            guard version == ScorerMessage.protocolVersion else {
                throw ScorerError.versionMismatch(scorer: name, rank: rank, ours: ScorerMessage.protocolVersion, theirs: version)
            }
            scorerName = scorer
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    public func rewards(step: Int, items: [RewardRequestItem]) throws -> [Double] {
        let id = nextBatch
        nextBatch += 1
        let reply = try exchange(ScorerMessage.encodeBatch(id: id, step: step, rank: rank, items: items), step: step,
                                 waitingFor: "the rewards of batch \(id) (\(items.count) rollouts)")
        switch reply {
        case .rewards(let got, let rewards):
            guard got == id else { throw bad(step, "reply to batch \(got), expected \(id)") }
            guard rewards.count == items.count else { throw bad(step, "\(rewards.count) rewards for \(items.count) rollouts") }
            if let i = rewards.firstIndex(where: { !$0.isFinite }) {
                throw bad(step, "reward \(rewards[i]) (not finite) for query \(items[i].queryID), item \(items[i].chosen)")
            }
            return rewards
        case .failure(let message):
            throw ScorerError.scorerFailed(scorer: name, rank: rank, step: step, message: message)
        case .hello:
            throw bad(step, "a HelloReply where rewards were expected")
        }
    }

    private func bad(_ step: Int?, _ reason: String) -> ScorerError {
        .garbage(scorer: name, rank: rank, step: step, reason: reason)
    }

    /// Sends `request` and waits for one reply, within `timeout` in all.
    private func exchange(_ request: [UInt8], step: Int?, waitingFor what: String) throws -> ScorerMessage.Reply {
        let deadline = ScorerChannel.now() + timeout
        do {
            try channel.send(request, deadline: deadline)
            let bytes = try channel.receive(deadline: deadline)
            guard let reply = ScorerMessage.decodeReply(bytes) else {
                throw bad(step, "\(bytes.count) bytes that are not a ScorerReply")
            }
            return reply
        } catch let f as ScorerChannel.Failure {
            switch f {
            case .closed:
                let status = process?.exitStatus(waitingUpTo: 2) ?? "closed the connection"
                throw ScorerError.exited(scorer: name, rank: rank, step: step, status: status)
            case .timedOut:
                throw ScorerError.timedOut(scorer: name, rank: rank, seconds: timeout, waitingFor: what)
            case .incomplete(let got, let length):
                throw bad(step, "\(got) bytes of an incomplete message" + (length.map { " (its length prefix announced \($0) bytes)" } ?? "")
                          + ", then nothing for \(timeout) s")
            case .oversize(let n):
                throw bad(step, "a message length of \(n) bytes (limit \(ScorerMessage.maximumMessageBytes))")
            case .io(let m):
                throw ScorerError.garbage(scorer: name, rank: rank, step: step, reason: "I/O error: \(m)")
            }
        }
    }

    /// Sends Goodbye (best effort, bounded) and releases the scorer: a per-rank process is
    /// waited for, then terminated if it does not exit. Idempotent.
    public func close() {
        if closed { return }
        closed = true
        try? channel.send(ScorerMessage.encodeGoodbye(), deadline: ScorerChannel.now() + min(timeout, 2))
        process?.terminate(grace: min(timeout, 2))
    }
}

/// Builds the reward source a configuration asks for.
public enum RewardSources {
    /// nil for the built-in reward; else a handshaken `ExternalScorer` for this rank.
    public static func make(config: TrainingConfig, rank: Int, ranks: Int) throws -> (any RewardSource)? {
        guard !config.scorerCommand.isEmpty || !config.scorerSocket.isEmpty else { return nil }
        let hello = ScorerMessage.Hello(capgVersion: CapgVersion.string, rank: rank, ranks: ranks,
                                        data: config.data.rawValue, configHash: config.trajectoryHash)
        if !config.scorerCommand.isEmpty {
            return try ExternalScorer(command: config.scorerCommand, hello: hello, timeout: config.scorerTimeout)
        }
        return try ExternalScorer(socket: config.scorerSocket, hello: hello, timeout: config.scorerTimeout)
    }
}
