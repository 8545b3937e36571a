/// Answers many "first index `j >= start` where `values[j]` crosses `threshold`" questions in one backward pass.
///
/// The reference answers each question by scanning forward from `start` (quadratic when levels stay unbroken).
/// Walking backwards, we keep the chain of strict running maxima that starts at the current index (a monotonic
/// stack): the first index at or after `start` whose value passes a threshold is always on that chain, and the
/// chain is sorted, so each question is a binary search. Total cost O((n + q) log n), one stack allocation.
struct FirstCrossing {
    enum Direction {
        /// `values[j] > threshold`
        case above
        /// `values[j] >= threshold`
        case atOrAbove
        /// `values[j] < threshold`
        case below
        /// `values[j] <= threshold`
        case atOrBelow
    }

    /// Resolves `queries` (which must be sorted by `start`, ascending) and returns, per query, the first index or
    /// `nil`. Queries whose start is past the end have no answer.
    static func resolve(values: [Double], direction: Direction, starts: [Int], thresholds: [Double]) -> [Int?] {
        precondition(starts.count == thresholds.count)
        var answers = [Int?](repeating: nil, count: starts.count)
        if starts.isEmpty { return answers }
        // Mirror "below" onto "above" by negating; negation is exact, so comparisons are unchanged.
        let sign: Double
        let strict: Bool
        switch direction {
        case .above: sign = 1; strict = true
        case .atOrAbove: sign = 1; strict = false
        case .below: sign = -1; strict = true
        case .atOrBelow: sign = -1; strict = false
        }
        let n = values.count
        values.withUnsafeBufferPointer { v in
            // stack[0] is the farthest-right (largest) value; the top is the current index.
            var stack: [Int] = []
            stack.reserveCapacity(64)
            var q = starts.count - 1
            // Queries starting past the end stay nil.
            while q >= 0 && starts[q] >= n { q -= 1 }
            var index = n - 1
            while q >= 0 {
                let start = max(starts[q], 0)
                while index >= start {
                    let value = sign * v[index]
                    while let top = stack.last, sign * v[top] <= value { stack.removeLast() }
                    stack.append(index)
                    index -= 1
                }
                let threshold = sign * thresholds[q]
                // Count the stack elements (from the bottom) that pass; they form a prefix.
                var lo = 0
                var hi = stack.count
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    let value = sign * v[stack[mid]]
                    let passes = strict ? value > threshold : value >= threshold
                    if passes { lo = mid + 1 } else { hi = mid }
                }
                answers[q] = lo > 0 ? stack[lo - 1] : nil
                q -= 1
            }
        }
        return answers
    }
}
