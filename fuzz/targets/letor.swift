// libFuzzer target: the LETOR/SVMlight reader. The first byte picks the options: feature
// count F = 1 + (b & 7), a maximum label when b & 8, and the entry point: the in-memory
// `LetorReader.parse(text:)` when b & 16 is 0, else the streaming `LetorReader.read(path:)`
// on a temp file with a tiny read size 1 + (b >> 5) (so lines straddle chunks and the
// partial-line buffer is exercised), with a 256-byte line cap. Any input must read or throw
// a LetorError. Built and run by scripts/fuzz.sh.
import CAPGData
import Foundation

let letorPath = FileManager.default.temporaryDirectory.appendingPathComponent("capg-fuzz-letor-\(getpid()).txt").path

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLetor(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let b = Int(data[0])
    var options = LetorReadOptions(featureCount: 1 + (b & 7), maxLabel: b & 8 != 0 ? 4 : nil)
    let body = UnsafeBufferPointer(start: data + 1, count: size - 1)
    if b & 16 == 0 {
        _ = try? LetorReader.parse(text: String(decoding: body, as: UTF8.self), name: "fuzz", options: options)
    } else {
        options.chunkSize = 1 + (b >> 5)
        options.maxLineBytes = 256
        _ = FileManager.default.createFile(atPath: letorPath, contents: Data(buffer: body))
        _ = try? LetorReader.read(path: letorPath, options: options)
    }
    return 0
}
