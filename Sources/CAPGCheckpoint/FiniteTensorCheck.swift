import CAPGTrain

/// Checks what a CRC cannot: that every float of a decoded checkpoint is finite. A state
/// with NaN or ±∞ passes every checksum (they only prove the bytes are the ones written),
/// and resuming it used to fail steps later with a misleading "non-finite gradient … lower
/// --lr". The decoder runs this on every load, so `checkpoint verify` rejects such a file
/// and `--resume auto` skips it for an older one. O(floats), one pass.
enum FiniteTensorCheck {
    /// Throws `.nonFiniteValue` naming the first tensor (in file order) and flat index
    /// holding NaN or ±∞: parameter tensors by their slices of the flat parameter buffer,
    /// then optimizer buffers, then data tensors.
    static func check(_ snapshot: TrainingSnapshot) throws {
        let parameters = snapshot.state.parameters
        for t in snapshot.config.parameterTensors {
            let count = t.shape.reduce(1, *)
            try check(parameters[t.offset..<(t.offset + count)], name: "param." + t.name)
        }
        for b in snapshot.state.optimizerBuffers { try check(b.values[...], name: b.name) }
        for b in snapshot.dataTensors { try check(b.values[...], name: "data." + b.name) }
        try check(runningBaseline: snapshot.state.runningBaseline)
    }

    private static func check(_ values: ArraySlice<Float>, name: String) throws {
        try values.withUnsafeBufferPointer { try check($0, tensor: name, floatOffset: 0) }
    }

    /// The same check on one chunk of a tensor as a streaming reader sees it: `floatOffset`
    /// is the chunk's first float within the tensor (so the reported index is the tensor's).
    static func check(chunk: UnsafeRawBufferPointer, tensor name: String, floatOffset: Int) throws {
        try check(chunk.bindMemory(to: Float.self), tensor: name, floatOffset: floatOffset)
    }

    private static func check(_ v: UnsafeBufferPointer<Float>, tensor name: String, floatOffset: Int) throws {
        for i in 0..<v.count where !v[i].isFinite {
            throw CheckpointError.nonFiniteValue(tensor: name, index: floatOffset + i, value: v[i])
        }
    }

    /// The header's running baseline (a scalar no CRC can vouch for either).
    static func check(runningBaseline: Double) throws {
        guard runningBaseline.isFinite else {
            throw CheckpointError.malformed("header: running_baseline is \(runningBaseline), not a finite number")
        }
    }
}
