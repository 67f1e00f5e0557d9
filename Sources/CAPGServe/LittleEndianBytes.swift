/// Appending little-endian integers and floats to a byte array (the byte order of
/// safetensors, .npy `<f4` and zip headers).
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    /// Float32 values as little-endian bytes (the host order: capg builds only on
    /// little-endian hosts, see `CheckpointFormat`).
    mutating func appendLE(floats: [Float]) {
        floats.withUnsafeBytes { append(contentsOf: $0) }
    }
}
