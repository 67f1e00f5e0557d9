/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of zip members.
/// Not CRC32C (Castagnoli, the checkpoint's checksum): zip readers check this one.
/// Table-driven, one byte per step: O(bytes), ample for exported models.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
