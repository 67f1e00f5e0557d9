import Foundation

/// Writes the safetensors format (https://huggingface.co/docs/safetensors):
///
///     u64le(N) ‖ header (N bytes of JSON, space-padded to a multiple of 8) ‖ data
///     header = {"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [a, b]}, ...,
///               "__metadata__": {"<key>": "<string>", ...}}
///
/// `data_offsets` are byte offsets into the data section (after the header); tensors are
/// stored back to back in the order given, float32 little-endian, row-major. O(bytes).
enum SafetensorsWriter {
    static func encode(tensors: [ServingModel.Tensor], metadata: [String: String]) throws -> [UInt8] {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for t in tensors {
            let bytes = 4 * t.values.count
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        // Pad so that the data section starts 8-byte aligned (readers may map it in place).
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        out.appendLE(UInt64(json.count))
        out += json
        for t in tensors { out.appendLE(floats: t.values) }
        return out
    }
}
