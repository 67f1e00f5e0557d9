// libFuzzer target: the checkpoint decoder (`CheckpointDecoder.decode`) on arbitrary bytes.
// The first byte picks the mode: even, the rest is decoded as it is (magic, frame prefixes,
// CRCs); odd, the rest is first resealed (`CheckpointReseal`: every CRC recomputed), so that
// mutations reach the protobuf unpacking, the header's consistency checks, the chunk
// layout and the content checks behind the checksums. Any input must either decode or
// throw a CheckpointError: a crash, trap, hang or sanitizer report is a bug.
// Built and run by scripts/fuzz.sh.
import CAPGCheckpoint

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    var bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] & 1 == 1 { bytes = CheckpointReseal.reseal(bytes) }
    _ = try? CheckpointDecoder.decode(bytes)
    return 0
}
