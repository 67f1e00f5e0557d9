import Foundation

/// Writes a NumPy `.npz`: a zip archive (members *stored*, no compression) of `.npy` v1.0
/// files, one per tensor (`<name>.npy`, so `np.load(f)["param.W"]` works), plus extra raw
/// members (capg adds `metadata.json`; `np.load` returns a non-.npy member as bytes).
///
/// `.npy` v1.0: `"\x93NUMPY" ‖ 0x01 0x00 ‖ u16le(H) ‖ header`, the header a Python dict
/// literal `{'descr': '<f4', 'fortran_order': False, 'shape': (…), }` padded with spaces
/// and ended by `\n` so that 10 + H is a multiple of 64; then the raw row-major data.
/// Zip: a local file header per member, then the central directory and its end record
/// (no zip64: the archive must stay below 4 GiB, checked). O(bytes).
enum NPZWriter {
    static func npy(shape: [Int], values: [Float]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }".utf8)
        while (10 + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        out.appendLE(UInt16(header.count))
        out += header
        out.appendLE(floats: values)
        return out
    }

    static func encode(tensors: [ServingModel.Tensor], extraMembers: [(name: String, bytes: [UInt8])]) throws -> [UInt8] {
        let members = tensors.map { ($0.name + ".npy", npy(shape: $0.shape, values: $0.values)) } + extraMembers.map { ($0.name, $0.bytes) }
        var out = [UInt8](), central = [UInt8]()
        for (name, data) in members {
            let nameBytes = Array(name.utf8)
            let crc = CRC32.checksum(data)
            guard out.count + data.count + 30 + nameBytes.count < Int(UInt32.max) else {
                throw ServeError.invalidOption("the model is too large for a zip without zip64 (≥ 4 GiB): use --format safetensors")
            }
            let localOffset = UInt32(out.count)
            // Local file header: version 2.0, no flags, method 0 (stored), time/date 0.
            out.appendLE(UInt32(0x0403_4B50)); out.appendLE(UInt16(20)); out.appendLE(UInt16(0)); out.appendLE(UInt16(0))
            out.appendLE(UInt16(0)); out.appendLE(UInt16(0x21))
            out.appendLE(crc); out.appendLE(UInt32(data.count)); out.appendLE(UInt32(data.count))
            out.appendLE(UInt16(nameBytes.count)); out.appendLE(UInt16(0))
            out += nameBytes
            out += data
            // Central directory entry.
            central.appendLE(UInt32(0x0201_4B50)); central.appendLE(UInt16(20)); central.appendLE(UInt16(20))
            central.appendLE(UInt16(0)); central.appendLE(UInt16(0)); central.appendLE(UInt16(0)); central.appendLE(UInt16(0x21))
            central.appendLE(crc); central.appendLE(UInt32(data.count)); central.appendLE(UInt32(data.count))
            central.appendLE(UInt16(nameBytes.count)); central.appendLE(UInt16(0)); central.appendLE(UInt16(0))
            central.appendLE(UInt16(0)); central.appendLE(UInt16(0)); central.appendLE(UInt32(0))
            central.appendLE(localOffset)
            central += nameBytes
        }
        let centralOffset = UInt32(out.count)
        out += central
        // End of central directory.
        out.appendLE(UInt32(0x0605_4B50)); out.appendLE(UInt16(0)); out.appendLE(UInt16(0))
        out.appendLE(UInt16(members.count)); out.appendLE(UInt16(members.count))
        out.appendLE(UInt32(central.count)); out.appendLE(centralOffset); out.appendLE(UInt16(0))
        return out
    }
}
