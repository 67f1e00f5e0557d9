import CAPGTrain
import Foundation

/// `capg export`: a checkpoint's ESR as a file any framework can read.
///
/// Tensors: `param.<name>` with the checkpoint's names and shapes, in checkpoint order
/// (two-tower `param.W` d×dx, `param.E` N×d, `param.b` N; LETOR `param.w`, `param.b` or
/// the MLP's `param.W1`, `param.c1`, `param.v`, `param.b`; a learned LSR's `param.lsr.w`),
/// then the data tensors (`data.feature_mean`, `data.feature_inv_std` for LETOR), all
/// float32 little-endian. SHA-256 of the `param.*` bytes concatenated in that order is the
/// run's `param_fingerprint`.
///
/// Metadata (string → string; `__metadata__` in safetensors, the JSON object of the member
/// `metadata.json` in npz): `format` (`capg-esr/1`), `task`, `esr`, `model`, `score`
/// (the scoring formula), `step`, `param_fingerprint`, `param_tensors` (JSON list of the
/// `param.*` names in fingerprint order), `config` (the checkpoint's config, canonical
/// JSON) and for LETOR `feature_mean`, `feature_inv_std` (JSON arrays, the float32 values).
public enum ModelExport {
    public enum Format: String, CaseIterable, Sendable {
        case safetensors, npz
    }

    public static func metadata(_ model: ServingModel) -> [String: String] {
        let c = model.config
        func json(_ v: Any) -> String {
            String(decoding: try! JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]), as: UTF8.self)
        }
        var m: [String: String] = [
            "format": "capg-esr/1", "task": c.data.rawValue, "model": c.modelDescription, "score": model.scoreFormula,
            "step": String(model.step), "param_fingerprint": model.paramFingerprint, "config": c.canonicalJSON,
            "param_tensors": json(c.parameterTensors.map { "param." + $0.name }),
            "esr": c.data == .letor ? (c.hidden > 0 ? "mlp" : "linear") : "two-tower",
        ]
        for t in model.dataTensors { m[t.name] = json(t.values.map(Double.init)) }
        return m
    }

    /// The file's bytes.
    public static func encode(_ model: ServingModel, format: Format) throws -> [UInt8] {
        let meta = metadata(model)
        switch format {
        case .safetensors:
            return try SafetensorsWriter.encode(tensors: model.tensors, metadata: meta)
        case .npz:
            let text = try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted])
            return try NPZWriter.encode(tensors: model.tensors, extraMembers: [("metadata.json", Array(text))])
        }
    }

    /// Writes the export to `path` (a temp file renamed into place: a reader never sees half a file).
    public static func write(_ model: ServingModel, format: Format, to path: String) throws -> Int {
        let bytes = try encode(model, format: format)
        try OutputFiles.writeAtomically(bytes, to: path)
        return bytes.count
    }
}
