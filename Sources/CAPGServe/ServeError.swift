/// Why a checkpoint could not be exported, evaluated or served.
public enum ServeError: Error, CustomStringConvertible, Equatable {
    /// A LETOR checkpoint without `data.feature_mean`/`data.feature_inv_std`.
    case missingStandardization
    /// The data given do not fit the checkpoint's model.
    case dataMismatch(String)
    /// The checkpoint trained a learned LSR, which evaluation does not reproduce yet.
    case learnedLateStage(mode: String)
    /// A bad option value (`--queries`, `--query-range`, `--k`, ...).
    case invalidOption(String)
    /// The output file could not be written.
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingStandardization:
            return "the LETOR checkpoint holds no feature standardization (data.feature_mean, data.feature_inv_std): it was written before capg stored them; retrain, or resume it once with the same training file so a new checkpoint stores them"
        case .dataMismatch(let m):
            return "the data do not fit the checkpoint: \(m)"
        case .learnedLateStage(let mode):
            return "the checkpoint trained a learned LSR (lsr_mode \(mode)); capg eval measures the policy under the environment's fixed LSR only: use a checkpoint of a run with --lsr-mode fixed (export and retrieve work on it)"
        case .invalidOption(let m):
            return m
        case .cannotWrite(let p, let r):
            return "cannot write \(p): \(r)"
        }
    }
}
