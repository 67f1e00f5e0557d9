// libFuzzer target: the Open Bandit Dataset loader (`OBDLoader.parse`: CSV splitting,
// column lookup, number parsing, one-hot encoding). The input is the log CSV, a NUL byte,
// then the item_context CSV (no NUL: both get the whole input). Any input must load or
// throw an OBDError. Built and run by scripts/fuzz.sh.
import CAPGData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOBD(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let cut = bytes.firstIndex(of: 0)
    let log = String(decoding: bytes[..<(cut ?? size)], as: UTF8.self)
    let items = cut.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) } ?? log
    _ = try? OBDLoader.parse(logText: log, logName: "all.csv", itemContextText: items, itemContextName: "item_context.csv")
    return 0
}
