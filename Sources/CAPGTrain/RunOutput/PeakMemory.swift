import Foundation

/// Peak resident set size of this process (`getrusage`: Linux reports `ru_maxrss` in KiB).
public enum PeakMemory {
    public static func residentBytes() -> Int {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024
    }
}
