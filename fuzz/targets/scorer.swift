// libFuzzer target: the external scorer's reply decoder (`ScorerMessage.decodeReply`, what
// capg does with every message a scorer process or socket sends). Any input must decode or
// give nil. Built and run by scripts/fuzz.sh.
import CAPGTrain

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScorerReply(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = ScorerMessage.decodeReply(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
