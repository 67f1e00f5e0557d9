import CCheckpointProto

/// Recomputes every checksum of a checkpoint whose frame bodies were edited: each frame's
/// CRC32C and the trailer's payload CRC32C (the trailer is unpacked, its
/// `payload_crc32c` set, and packed again, since the varint may change length).
///
/// Not used by capg itself: it is what a forger with the format's own code can do, so the
/// tests use it to show which damage only content checks catch (NaN tensors, an edited
/// config), and the fuzzer uses it to get mutated bodies past the CRCs into the decoder's
/// structural checks. Frames are walked by their length prefixes; bytes that do not form
/// whole frames, or a last frame that is not a trailer, are left as they are. O(bytes).
public enum CheckpointReseal {
    public static func reseal(_ input: [UInt8]) -> [UInt8] {
        var b = input
        let magic = CheckpointFormat.magic.count, prefix = CheckpointFormat.framePrefixBytes
        var frames: [Range<Int>] = []
        var pos = magic
        while pos + prefix <= b.count {
            let len = Int(b[pos]) | Int(b[pos + 1]) << 8 | Int(b[pos + 2]) << 16 | Int(b[pos + 3]) << 24
            guard len <= b.count - pos - prefix else { break }
            frames.append(pos..<(pos + prefix + len)); pos += prefix + len
        }
        func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func seal(_ f: Range<Int>) {
            let crc = b.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(f.lowerBound + prefix)..<f.upperBound])) }
            b.replaceSubrange((f.lowerBound + 4)..<(f.lowerBound + prefix), with: le(crc))
        }
        for f in frames { seal(f) }
        guard let trailer = frames.last else { return b }
        let body = Array(b[(trailer.lowerBound + prefix)..<trailer.upperBound])
        guard let frame = body.withUnsafeBufferPointer({ capg__v1__frame__unpack(nil, body.count, $0.baseAddress) }) else { return b }
        defer { capg__v1__frame__free_unpacked(frame, nil) }
        guard frame.pointee.body_case == CAPG__V1__FRAME__BODY_TRAILER, let t = frame.pointee.trailer else { return b }
        t.pointee.payload_crc32c = b.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[magic..<trailer.lowerBound])) }
        var packed = [UInt8](repeating: 0, count: capg__v1__frame__get_packed_size(frame))
        _ = packed.withUnsafeMutableBufferPointer { capg__v1__frame__pack(frame, $0.baseAddress) }
        let crc = packed.withUnsafeBytes { CRC32C.checksum($0) }
        return Array(b[..<trailer.lowerBound]) + le(UInt32(packed.count)) + le(crc) + packed + Array(b[trailer.upperBound...])
    }
}
