import Foundation

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
enum MergePatch {
    /// JSON pointers of the patch's non-null members that the resulting document does not have.
    static func unknownFields(_ patch: Any, in document: Any, path: String = "") -> [String] {
        guard let patch = patch as? [String: Any] else { return [] }
        let object = document as? [String: Any] ?? [:]
        return patch.keys.sorted().flatMap { key -> [String] in
            let value = patch[key]!
            if value is NSNull { return [] }
            guard let present = object[key] else { return [path + "/" + key] }
            return unknownFields(value, in: present, path: path + "/" + key)
        }
    }

    static func apply(_ patch: Any, to target: Any) -> Any {
        guard let patchObject = patch as? [String: Any] else { return patch }
        var result = (target as? [String: Any]) ?? [:]
        for (key, value) in patchObject {
            if value is NSNull {
                result.removeValue(forKey: key)
            } else {
                result[key] = apply(value, to: result[key] ?? NSNull())
            }
        }
        return result
    }
}
