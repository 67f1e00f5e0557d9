import ArgumentParser
import CAPGServe
import Foundation

/// `capg export CKPT --format safetensors|npz --out FILE`.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's ESR (its param.* tensors, data tensors and metadata) as safetensors or npz.",
        discussion: """
        Tensors keep the checkpoint's names and shapes (param.W, param.E, param.b for the \
        two-tower ESR; param.w, param.b or param.W1, param.c1, param.v, param.b for LETOR), \
        then data.feature_mean and data.feature_inv_std for LETOR; float32 little-endian, \
        row-major. SHA-256 of the param.* bytes in that order is the run's param_fingerprint. \
        Metadata (format, task, esr, model, score formula, step, param_fingerprint, \
        param_tensors, config JSON, LETOR feature moments): safetensors' __metadata__; in npz \
        the member metadata.json (np.load(f)["metadata.json"] gives its bytes). \
        npz members are stored uncompressed. See docs/design.md.
        """)

    @Argument(help: "Checkpoint file, `latest` pointer or checkpoint directory.")
    var checkpoint: String
    @Option(help: "safetensors | npz.")
    var format: String
    @Option(help: "Output file.")
    var out: String

    func validate() throws {
        if ModelExport.Format(rawValue: format) == nil { throw ValidationError("--format must be safetensors or npz (got '\(format)')") }
    }

    func run() throws {
        do {
            let model = try ServingModel(checkpoint: checkpoint)
            let bytes = try ModelExport.write(model, format: ModelExport.Format(rawValue: format)!, to: out)
            print("exported \(model.path) (step \(model.step), \(model.config.modelDescription)) to \(out): \(model.tensors.count) tensors, \(bytes) bytes; param_fingerprint \(model.paramFingerprint)")
        } catch let e as ValidationError { throw e } catch {
            FileHandle.standardError.write(Data("capg: export: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
