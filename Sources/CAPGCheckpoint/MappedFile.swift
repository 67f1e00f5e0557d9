import Foundation

/// A checkpoint file mapped read-only into memory, so a multi-gigabyte file can be checked
/// and streamed chunk by chunk without a copy: the kernel pages it in as the reader walks
/// it, and `release(upTo:)` drops the pages already walked from this process (they stay in
/// the page cache), so the resident set stays at one chunk's worth whatever the file's size.
final class MappedFile {
    let path: String
    let count: Int
    private let base: UnsafeMutableRawPointer?
    /// Bytes below this offset were released already.
    private var released = 0

    /// Maps `path` (a regular file); throws `.unreadable` naming the system's reason.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.unreadable(path: path, reason: POSIXFile.reason()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.unreadable(path: path, reason: POSIXFile.reason()) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.unreadable(path: path, reason: "not a regular file") }
        count = Int(st.st_size)
        if count == 0 { base = nil; return }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw CheckpointError.unreadable(path: path, reason: "mmap: \(POSIXFile.reason())") }
        base = p
    }

    /// Starts a new walk from the beginning: the next `release` calls drop pages again.
    func rewind() { released = 0 }

    deinit { if let base { munmap(base, count) } }

    /// The file's bytes (valid while `self` lives).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Drops the whole pages below byte `end` (not yet dropped) from this process's resident set (the next
    /// access reads them again from the page cache or the disk). Why: a walk over a mapping
    /// otherwise keeps every page it touched resident, and the item-sharded resume exists
    /// to keep the whole model off any one rank.
    func release(upTo end: Int) {
        guard let base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let upTo = min(end, count) / page * page
        if upTo > released { madvise(base + released, upTo - released, MADV_DONTNEED) }
        released = max(released, upTo)
    }
}
