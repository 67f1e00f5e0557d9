import Foundation

/// C memory for building protobuf-c messages from Swift: strings and arrays allocated with
/// `malloc` live until the arena is released, so pointers stored in message structs stay
/// valid while the message is packed (checkpoints, the scorer protocol). Not shared between
/// threads.
public final class CArena {
    public init() {}

    private var blocks: [UnsafeMutableRawPointer] = []

    /// A NUL-terminated copy of `s`.
    public func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// Zeroed storage for `count` values of `T` (at least one, so the pointer is never null).
    public func allocate<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    deinit { for b in blocks { free(b) } }
}
