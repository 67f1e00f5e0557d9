import ArgumentParser

/// The data a checkpoint is evaluated or served on (`capg eval`, `capg retrieve`).
struct ServingDataOptions: ParsableArguments {
    @Option(name: .customLong("test"), help: "LETOR checkpoints: the SVMlight file whose queries are used (default: the checkpoint's test_file).")
    var testFile: String?
    @Option(name: .customLong("obd-dir"), help: "OBD checkpoints: the log directory (default: the checkpoint's obd_dir).")
    var obdDir: String?
}
