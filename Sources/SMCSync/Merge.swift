/// A write of one field: its new value (`null` removes it) and the stamp of the edit.
public struct FieldWrite: Sendable, Equatable {
    public var value: JSONValue
    public var hlc: HLC

    public init(value: JSONValue, hlc: HLC) {
        self.value = value
        self.hlc = hlc
    }
}

/// One journal entity as every replica stores it for merging: each field a last-writer-wins register
/// (value, stamp), and a tombstone stamp once deleted. The server and every client run the same `apply` and
/// `merge`, so replicas that have seen the same writes hold the same state, whatever the order they saw them in.
public struct MergeRecord: Sendable, Equatable {
    /// Present fields; an absent field is `null`.
    public var fields: [String: JSONValue]
    /// The stamp of the write that set each field (absent: `HLC.zero`, never written through sync).
    public var clocks: [String: HLC]
    /// Set once deleted: deletes win over every edit, earlier or later.
    public var deleted: HLC?

    public init(fields: [String: JSONValue] = [:], clocks: [String: HLC] = [:], deleted: HLC? = nil) {
        self.fields = fields
        self.clocks = clocks
        self.deleted = deleted
    }

    public func clock(_ field: String) -> HLC { clocks[field] ?? .zero }

    /// Applies field writes: each replaces its register iff its stamp is greater than the register's.
    /// Returns the names of the fields whose register changed (sorted); nothing changes on a tombstone.
    @discardableResult
    public mutating func apply(_ writes: [String: FieldWrite]) -> [String] {
        guard deleted == nil else { return [] }
        var changed: [String] = []
        for (name, write) in writes where write.hlc > clock(name) {
            clocks[name] = write.hlc
            if write.value == .null { fields.removeValue(forKey: name) } else { fields[name] = write.value }
            changed.append(name)
        }
        return changed.sorted()
    }

    /// Deletes: the tombstone keeps the earliest delete stamp seen (any delete wins; the stamp only records it).
    public mutating func delete(_ stamp: HLC) {
        deleted = min(deleted ?? stamp, stamp)
    }

    /// Merges another replica's full state of the same entity (what a pull delivers): field by field the
    /// greater stamp wins, a tombstone on either side wins. Commutative, associative and idempotent.
    /// Returns whether this record changed.
    ///
    /// `authoritative`: `other` is the server's state, whose value for a write both sides stamped the same is the
    /// one that counts (the server normalises what it accepts, e.g. trims tags), so equal stamps take its value.
    @discardableResult
    public mutating func merge(_ other: MergeRecord, authoritative: Bool = false) -> Bool {
        let before = self
        if let stamp = other.deleted { delete(stamp) }
        if deleted != nil {
            // A tombstone keeps no content but its stamp.
            fields = [:]
            clocks = [:]
            return self != before
        }
        for name in Set(other.clocks.keys).union(other.fields.keys) {
            let theirs = other.clock(name)
            let ours = clock(name)
            if theirs > ours || (theirs == ours && (authoritative || (clocks[name] == nil && fields[name] == nil))) {
                clocks[name] = other.clocks[name]
                fields[name] = other.fields[name]
            }
        }
        return self != before
    }
}
