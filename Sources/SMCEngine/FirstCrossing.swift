/// Answers many "first index `j >= start` where `values[j]` crosses `threshold`" questions.
///
/// The reference answers each question by scanning forward from `start`, which is quadratic when levels stay
/// unbroken. We keep the maxima (of the values, or of their negations for "below" questions; negation is exact)
/// of blocks of 64 and of 4096 candles: a question scans at most the rest of its 64-block, then block maxima up to
/// the next 4096 boundary, then 4096-block maxima, and descends only into the block that holds the answer. Cost
/// O(n) to build plus O(256 + n / 4096) per question, with short, predictable loops.
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

    private static let shift1 = 6  // 64
    private static let shift2 = 12  // 4096

    /// Returns, per question, the first index or `nil`; starts past the end have no answer.
    static func resolve(values: [Double], direction: Direction, starts: [Int], thresholds: [Double]) -> [Int?] {
        precondition(starts.count == thresholds.count)
        if starts.isEmpty { return [] }
        switch direction {
        case .above: return solve(values, starts, thresholds, strict: true, key: { $0 })
        case .atOrAbove: return solve(values, starts, thresholds, strict: false, key: { $0 })
        case .below: return solve(values, starts, thresholds, strict: true, key: { -$0 })
        case .atOrBelow: return solve(values, starts, thresholds, strict: false, key: { -$0 })
        }
    }

    @inline(__always)
    private static func solve(_ values: [Double], _ starts: [Int], _ thresholds: [Double], strict: Bool,
                              key: (Double) -> Double) -> [Int?] {
        let n = values.count
        let count1 = (n + 63) >> shift1
        let count2 = (n + 4095) >> shift2
        var block1 = [Double](repeating: -.infinity, count: count1)
        var block2 = [Double](repeating: -.infinity, count: count2)
        var answers = [Int?](repeating: nil, count: starts.count)
        values.withUnsafeBufferPointer { v in
            block1.withUnsafeMutableBufferPointer { b1 in
                block2.withUnsafeMutableBufferPointer { b2 in
                    for j in 0..<n {
                        let k = key(v[j])
                        // NaN never passes a threshold; keep it out of the maxima.
                        if k > b1[j >> shift1] { b1[j >> shift1] = k }
                    }
                    for b in 0..<count1 where b1[b] > b2[b >> shift1] { b2[b >> shift1] = b1[b] }

                    for q in starts.indices {
                        let t = key(thresholds[q])
                        @inline(__always) func passes(_ x: Double) -> Bool { strict ? x > t : x >= t }
                        var j = Swift.max(starts[q], 0)
                        guard j < n else { continue }
                        var found: Int?
                        // Rest of the first 64-block.
                        while j < n && (j & 63 != 0 || j == starts[q]) {
                            if passes(key(v[j])) { found = j; break }
                            j += 1
                            if j & 63 == 0 { break }
                        }
                        if found == nil && j < n {
                            var b = j >> shift1
                            var hit = -1
                            // 64-blocks up to the next 4096 boundary.
                            while b < count1 && b & 63 != 0 {
                                if passes(b1[b]) { hit = b; break }
                                b += 1
                            }
                            if hit < 0 && b < count1 {
                                // b is on a 4096 boundary here.
                                var c = b >> shift1
                                while c < count2 {
                                    if passes(b2[c]) {
                                        for inner in (c << shift1)..<Swift.min((c + 1) << shift1, count1)
                                        where passes(b1[inner]) {
                                            hit = inner
                                            break
                                        }
                                        break
                                    }
                                    c += 1
                                }
                            }
                            if hit >= 0 {
                                for k in (hit << shift1)..<Swift.min((hit + 1) << shift1, n) where passes(key(v[k])) {
                                    found = k
                                    break
                                }
                            }
                        }
                        answers[q] = found
                    }
                }
            }
        }
        return answers
    }
}
