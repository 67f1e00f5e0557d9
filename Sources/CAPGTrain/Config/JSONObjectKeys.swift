import Foundation

/// The keys of a JSON text's top-level object, in the order written, duplicates included.
/// `JSONSerialization` keeps only the last of repeated keys without a word, so a config with
/// `"lr": 0.1, …, "lr": 0.01` would silently lose one; this scan lets the caller refuse it.
/// The text must already have parsed as JSON (so it is well formed). O(bytes).
enum JSONObjectKeys {
    static func keys(_ data: Data) -> [String] {
        let b = [UInt8](data)
        var keys: [String] = []
        var depth = 0, i = 0
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                // Scan the string to its closing quote, skipping escaped characters.
                let start = i
                i += 1
                while i < b.count && b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
                let end = min(i, b.count - 1)
                // At depth 1, a string followed by ':' is a key of the top-level object.
                var j = i + 1
                while j < b.count && [0x20, 0x09, 0x0A, 0x0D].contains(b[j]) { j += 1 }
                if depth == 1 && j < b.count && b[j] == UInt8(ascii: ":"),
                   let key = try? JSONSerialization.jsonObject(with: Data(b[start...end]), options: .fragmentsAllowed) as? String {
                    keys.append(key)
                }
            } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                depth += 1
            } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                depth -= 1
            }
            i += 1
        }
        return keys
    }
}
