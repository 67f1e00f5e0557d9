// Benchmark driver for scripts/bench-reader.sh: reads a LETOR file 10 times per setting and
// prints the best time (built as one optimized module with CAPGCore and CAPGData).
import Foundation
let path = CommandLine.arguments[1]
for validate in [true, false] {
    for size in [1, 2] {
        var best: LetorReadStatistics? = nil
        for _ in 0..<10 {
            var o = LetorReadOptions(featureCount: 136, rank: 0, size: size)
            o.validateForeignQueries = validate
            let (_, s) = try LetorReader.read(path: path, options: o)
            if best == nil || s.seconds < best!.seconds { best = s }
        }
        let b = best!
        print(String(format: "size %d validateForeign %@: %d bytes %d lines %d queries %d docs (kept %d q / %d docs) best of 10: %.4f s = %.1f MB/s, %.0f lines/s",
                     size, validate ? "yes" : "no ", b.bytes, b.lines, b.queries, b.documents, b.keptQueries, b.keptDocuments, b.seconds, b.megabytesPerSecond, b.linesPerSecond))
    }
}
