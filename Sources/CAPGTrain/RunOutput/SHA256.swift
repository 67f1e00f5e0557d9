import CVectorMath

/// SHA-256 (FIPS 180-4), for the `param_fingerprint` of a run: the hex digest of the
/// parameter bytes (little-endian IEEE-754 floats, flat `[W | E | b]` order). O(bytes).
public struct SHA256 {
    private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    public init() {}

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        // Contiguous input is compressed in place, 64 bytes at a time: appending it all to
        // `pending` first copied the whole input (1.3 GB per replica check of a 10⁷-item
        // shard) before hashing it.
        if bytes.withContiguousStorageIfAvailable({ update(contiguous: $0) }) != nil { return }
        update(contiguous: Array(bytes))
    }

    private mutating func update(contiguous bytes: UnsafeBufferPointer<UInt8>) {
        length &+= UInt64(bytes.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            offset = take
            if pending.count < 64 { return }
            let block = pending
            pending.removeAll(keepingCapacity: true)
            block.withUnsafeBufferPointer { compress($0.baseAddress!, blocks: 1) }
        }
        let blocks = (bytes.count - offset) / 64
        if blocks > 0 {
            compress(bytes.baseAddress! + offset, blocks: blocks)
            offset += 64 * blocks
        }
        pending.append(contentsOf: bytes[offset...])
    }

    private mutating func update(contiguous bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { update(contiguous: $0) }
    }

    public mutating func update(floats: [Float]) {
        floats.withUnsafeBytes { update($0) }
    }

    /// The compression function over `blocks` whole 64-byte blocks (`capg_sha256_blocks`:
    /// the SHA extensions where the CPU has them, ~10× the Swift loop this replaced, which
    /// ran at ~160 MB/s — seconds per fingerprint of a 10⁶-item table).
    private mutating func compress(_ data: UnsafePointer<UInt8>, blocks: Int) {
        h.withUnsafeMutableBufferPointer { capg_sha256_blocks($0.baseAddress!, data, blocks) }
    }

    /// Finishes and returns the digest as lowercase hex.
    public mutating func finalizeHex() -> String {
        let bitLength = length &* 8
        var tail: [UInt8] = [0x80]
        while (pending.count + tail.count) % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i)))) }
        let saved = length
        update(tail)
        length = saved
        return h.map { v in
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 8 - s.count) + s
        }.joined()
    }

    /// One-shot digest of a byte collection.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var s = SHA256(); s.update(bytes); return s.finalizeHex()
    }

    /// One-shot digest of float bytes.
    public static func hex(floats: [Float]) -> String {
        var s = SHA256(); s.update(floats: floats); return s.finalizeHex()
    }
}
