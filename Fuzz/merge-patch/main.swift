// libFuzzer target: the JSON Merge Patch (RFC 7386) appliers, MergePatch (settings PATCH,
// Sources/SMCServer/Settings/MergePatch.swift) and JSONValue.merging (journal PATCH, Sources/SMCSync/JSONValue.swift).
// Built by scripts/fuzz with those two files alone.
//
// Input: a target document and a patch, separated by the first newline (either may be any JSON value).
// Besides "no crash", it checks RFC 7386 itself:
// - the result follows the RFC member by member: a null removes, an object merges recursively, any other value
//   replaces, members the patch does not name are kept as they were, nothing else appears;
// - applying the patch again changes nothing (idempotence);
// - unknownFields finds nothing when asked about the patch's own result;
// - the two appliers agree.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMergePatch(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
    let targetData = Data(bytes[..<cut]), patchData = Data(bytes[min(cut + 1, bytes.count)...])
    guard let target = try? JSONSerialization.jsonObject(with: targetData, options: .fragmentsAllowed),
          let patch = try? JSONSerialization.jsonObject(with: patchData, options: .fragmentsAllowed)
    else { return 0 }

    let result = MergePatch.apply(patch, to: target)
    checkRFC7386(patch: patch, target: target, result: result, path: "")
    let twice = MergePatch.apply(patch, to: result)
    require(canonical(twice) == canonical(result), "applying the patch twice differs from once")
    let unknown = MergePatch.unknownFields(patch, in: result)
    require(unknown.isEmpty, "unknownFields of the patch's own result: \(unknown)")

    // The journal's applier on the same documents, read back from JSONSerialization's reading of them: the two
    // Foundation readers settle a repeated member name differently (the last one wins, the first one wins).
    let decoder = JSONDecoder()
    if let targetValue = try? decoder.decode(JSONValue.self, from: Data(canonical(target).utf8)),
       let patchValue = try? decoder.decode(JSONValue.self, from: Data(canonical(patch).utf8)),
       let resultData = try? JSONSerialization.data(withJSONObject: result, options: .fragmentsAllowed),
       let resultValue = try? decoder.decode(JSONValue.self, from: resultData)
    {
        let merged = targetValue.merging(patchValue)
        require(merged == resultValue, "JSONValue.merging and MergePatch.apply disagree:\n\(merged)\n\(resultValue)")
        require(merged.merging(patchValue) == merged, "JSONValue.merging is not idempotent")
    }
    return 0
}

/// RFC 7386 §2, checked rather than recomputed.
private func checkRFC7386(patch: Any, target: Any, result: Any, path: String) {
    guard let patchObject = patch as? [String: Any] else {
        require(canonical(result) == canonical(patch), "\(path): a non-object patch must replace the target")
        return
    }
    guard let resultObject = result as? [String: Any] else { fatalError("\(path): an object patch gave a non-object") }
    let targetObject = target as? [String: Any] ?? [:]
    for (key, value) in patchObject {
        if value is NSNull {
            require(resultObject[key] == nil, "\(path)/\(key): null in the patch did not remove the member")
        } else if let merged = resultObject[key] {
            checkRFC7386(patch: value, target: targetObject[key] ?? NSNull(), result: merged, path: path + "/" + key)
        } else {
            fatalError("\(path)/\(key): the patched member is missing")
        }
    }
    for (key, value) in resultObject where patchObject[key] == nil {
        guard let before = targetObject[key] else { fatalError("\(path)/\(key): a member from nowhere") }
        require(canonical(value) == canonical(before), "\(path)/\(key): a member the patch does not name changed")
    }
    for key in targetObject.keys where patchObject[key] == nil {
        require(resultObject[key] != nil, "\(path)/\(key): a member the patch does not name was removed")
    }
}

/// One spelling per JSON value, to compare documents. Not JSONSerialization's `.sortedKeys`: it compares keys
/// numerically, so keys with long runs of digits come out in an order that depends on the dictionary's hash seed.
private func canonical(_ value: Any) -> String {
    switch value {
    case let object as [String: Any]:
        let keys = object.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return "{" + keys.map { leaf($0) + ":" + canonical(object[$0]!) }.joined(separator: ",") + "}"
    case let array as [Any]:
        return "[" + array.map(canonical).joined(separator: ",") + "]"
    default:
        return leaf(value)
    }
}

private func leaf(_ value: Any) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed) else {
        fatalError("a merged document does not serialise: \(value)")
    }
    return String(decoding: data, as: UTF8.self)
}

/// `precondition` that prints its message in optimised builds too, so libFuzzer's report says what broke.
private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String = "") {
    if !condition() { fatalError(message()) }
}
