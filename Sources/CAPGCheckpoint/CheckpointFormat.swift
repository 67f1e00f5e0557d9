import CAPGCore
import CAPGTrain

/// The container layout of a checkpoint file (see proto/capg/v1/checkpoint.proto):
///
///     "CAPGCKP1" ‖ frame(Header) ‖ frame(TensorChunk)* ‖ frame(Trailer)
///     frame(m) = u32le(len) ‖ u32le(CRC32C(bytes)) ‖ bytes,  bytes = packed capg.v1.Frame
///
/// The trailer's payload checksum is the CRC32C of every byte between the magic and the
/// trailer frame (prefixes included), assembled from the frame checksums with
/// `CRC32C.combine`. Floats are stored little-endian (the byte order of every platform
/// capg builds on; a big-endian build fails to compile below).
public enum CheckpointFormat {
    public static let magic: [UInt8] = Array("CAPGCKP1".utf8)
    /// The in-header magic string.
    public static let headerMagic = "capg.checkpoint"
    /// The schema version this build writes and the newest it reads.
    public static let schemaVersion = 1
    public static let writerVersion = CapgVersion.string
    /// Bytes of the frame prefix (length + CRC32C).
    public static let framePrefixBytes = 8
    /// Default data bytes per tensor chunk: 4 MiB (shared with the item-sharded trainer's
    /// senders, which cut their pieces at the same boundaries).
    public static let defaultChunkBytes = CheckpointChunking.floats * 4
    /// The reader refuses frames above this size (a corrupted length must not make it
    /// allocate gigabytes).
    public static let maxFrameBytes = 1 << 30
    /// The generator named in the RNG state.
    public static let generator = "philox4x32-10 keyed by (seed, step, query id, sample)"

    /// File name of the checkpoint after `step` steps; zero-padded so names sort by step.
    public static func fileName(step: Int) -> String {
        let s = String(step)
        return "ckpt-" + String(repeating: "0", count: max(0, 10 - s.count)) + s + ".capgckpt"
    }

    /// The step encoded in a checkpoint file name, nil for any other name (temp files,
    /// the `latest` pointer, foreign files).
    public static func step(fromFileName name: String) -> Int? {
        guard name.hasPrefix("ckpt-"), name.hasSuffix(".capgckpt") else { return nil }
        let digits = name.dropFirst(5).dropLast(9)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }

    /// The name of the pointer file naming the newest checkpoint of a directory.
    public static let latestPointer = "latest"

    /// The tensors a checkpoint of `config` holds, in file order: the parameter tensors
    /// (`param.W` (d×dx), `param.E` (N×d), `param.b` (N) for the two-tower ESR), then the optimizer's state
    /// buffers (e.g. `adam.m`, `adam.v`, each of the ESR's parameter count), then, with a
    /// learned LSR, `param.lsr.w` among the parameters and its own optimizer's buffers
    /// `lsr.adam.m`, `lsr.adam.v` (F each); last the data-derived tensors the model needs
    /// (`TrainingConfig.dataTensorShapes`, prefixed `data.`: LETOR's `data.feature_mean`,
    /// `data.feature_inv_std`, F each). The ESR layout follows the task: two-tower
    /// (synthetic, OBD), linear `param.w`, `param.b` or MLP `param.W1`, `param.c1`,
    /// `param.v`, `param.b` (LETOR). The config must have passed `validate()` (its
    /// dimensions are bounded, so the shapes are computed without overflow).
    public static func expectedTensors(config: TrainingConfig) -> [(name: String, shape: [Int])] {
        var out = config.parameterTensors.map { ("param." + $0.name, $0.shape) }
        let names = config.optimizer.make(parameterCount: 0, learningRate: config.lr).stateBuffers.map(\.name)
        let lsr = config.lsrFeatureCount
        for n in names { out.append((n, [config.parameterCount - lsr])) }
        if lsr > 0 { for n in names { out.append(("lsr." + n, [lsr])) } }
        for t in config.dataTensorShapes { out.append(("data." + t.name, t.shape)) }
        return out
    }

    /// Bytes of float32 data of `tensors`, computed with overflow checks; nil when the
    /// count does not fit in an `Int` (only a crafted config can ask for that). O(tensors).
    public static func checkedByteCount(_ tensors: [(name: String, shape: [Int])]) -> Int? {
        var total = 0
        for t in tensors {
            var n = 4
            for d in t.shape {
                guard d >= 0 else { return nil }
                let (m, o) = n.multipliedReportingOverflow(by: d)
                if o { return nil }
                n = m
            }
            let (s, o) = total.addingReportingOverflow(n)
            if o { return nil }
            total = s
        }
        return total
    }
}

#if !_endian(little)
#error("capg checkpoints store little-endian floats; add byte swapping for big-endian hosts")
#endif
