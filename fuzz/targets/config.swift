// libFuzzer target: the configuration parser. The first byte picks the form: even, the
// rest is a JSON config file (`TrainingConfig.apply(json:)`, as --config and checkpoint
// headers are read); odd, it is `key=value` lines (`apply(overrides:)`, as --set). Then the
// cross-field `validate()` and the memory estimate run on whatever was accepted. Any input
// must be accepted or throw a ConfigError. Built and run by scripts/fuzz.sh.
import CAPGTrain
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let body = UnsafeBufferPointer(start: data + 1, count: size - 1)
    var c = TrainingConfig()
    do {
        if data[0] & 1 == 0 {
            try c.apply(json: Data(buffer: body), source: "fuzz")
        } else {
            try c.apply(overrides: String(decoding: body, as: UTF8.self).split(separator: "\n").map(String.init))
        }
        try c.validate(ranks: 1 + Int(data[0] >> 6))
        _ = try MemoryFootprint(config: c, ranks: 1, threads: 1)
    } catch {}
    return 0
}
