import CAPGTrain
import Foundation

/// Writes `Retrieval` results as JSON lines (one object per query, keys sorted) to a file,
/// atomically (`OutputFiles.writeAtomically`).
public enum RetrievalOutput {
    /// Returns the number of lines written.
    public static func write(task: any TrainingTask, model: ServingModel, ids: [Int], k: Int, includeContext: Bool,
                             to path: String) throws -> Int {
        var bytes = [UInt8](), lines = 0
        try Retrieval.run(task: task, parameters: model.esrParameters, ids: ids, k: k, includeContext: includeContext) { r in
            bytes += try JSONSerialization.data(withJSONObject: r.json, options: [.sortedKeys])
            bytes.append(0x0A)
            lines += 1
        }
        try OutputFiles.writeAtomically(bytes, to: path)
        return lines
    }
}
