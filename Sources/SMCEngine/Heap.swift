/// A binary max-heap of (key, index) pairs; a min-heap is the same with negated keys (negation is exact).
///
/// `Codable` as part of a stream's state: keys are stored `@JSONSafe` (an infinite key is legitimate), the sign is ±1.
struct IndexHeap: Sendable, Hashable, Codable {
    @JSONSafe private var keys: [Double] = []
    private var indices: [Int] = []
    private let sign: Double

    /// `largestFirst` false turns this into a min-heap.
    init(largestFirst: Bool) { sign = largestFirst ? 1 : -1 }

    var isEmpty: Bool { keys.isEmpty }
    var count: Int { keys.count }

    /// The top key (largest for a max-heap, smallest for a min-heap).
    var topKey: Double? { keys.isEmpty ? nil : sign * keys[0] }
    var topIndex: Int? { indices.first }

    mutating func push(key: Double, index: Int) {
        keys.append(sign * key)
        indices.append(index)
        var child = keys.count - 1
        while child > 0 {
            let parent = (child - 1) >> 1
            if keys[parent] >= keys[child] { break }
            keys.swapAt(parent, child)
            indices.swapAt(parent, child)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> Int? {
        guard !keys.isEmpty else { return nil }
        let top = indices[0]
        let lastKey = keys.removeLast()
        let lastIndex = indices.removeLast()
        if !keys.isEmpty {
            keys[0] = lastKey
            indices[0] = lastIndex
            var parent = 0
            let count = keys.count
            while true {
                let left = 2 * parent + 1
                if left >= count { break }
                var largest = left
                let right = left + 1
                if right < count && keys[right] > keys[left] { largest = right }
                if keys[parent] >= keys[largest] { break }
                keys.swapAt(parent, largest)
                indices.swapAt(parent, largest)
                parent = largest
            }
        }
        return top
    }
}
