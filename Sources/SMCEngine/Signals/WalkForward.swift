import Foundation  // log, exp

// MARK: - Parameters

/// How `WalkForward.evaluate` splits the samples.
///
/// Decoding accepts a partial object: missing keys take their defaults.
public struct WalkForwardParameters: Sendable, Hashable, Codable {
    /// Number of test folds, default 5. The usable samples, sorted by `time`, are cut into `folds + 1` consecutive
    /// blocks of sizes differing by at most one (block b is indices `b·n/(folds+1) ..< (b+1)·n/(folds+1)`);
    /// fold k (1 … folds) trains on blocks 0 … k−1 (an expanding window) and tests on block k.
    /// Values below 1 count as 1; values above the sample count count as the sample count.
    public var folds: Int
    /// Purge gap in seconds, default 86 400. A training candidate is dropped when its `resolvedAt` (at least its
    /// `time`) is ≥ (the fold's first test sample's `time` − `purgeSeconds`), so no training label was known
    /// later than that. Negative values count as 0, so every kept training sample precedes every test sample.
    public var purgeSeconds: Int64
    /// How each fold's model is trained.
    public var training: TrainingParameters

    /// The defaults: 5 folds, a one-day purge, default training.
    public init() {
        self.init(folds: 5)
    }

    public init(folds: Int, purgeSeconds: Int64 = 86_400, training: TrainingParameters = .init()) {
        self.folds = folds
        self.purgeSeconds = purgeSeconds
        self.training = training
    }

    private enum CodingKeys: String, CodingKey {
        case folds, purgeSeconds, training
    }

    public init(from decoder: any Decoder) throws {
        let defaults = WalkForwardParameters()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        folds = try c.decodeIfPresent(Int.self, forKey: .folds) ?? defaults.folds
        purgeSeconds = try c.decodeIfPresent(Int64.self, forKey: .purgeSeconds) ?? defaults.purgeSeconds
        training = try c.decodeIfPresent(TrainingParameters.self, forKey: .training) ?? defaults.training
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(folds, forKey: .folds)
        try c.encode(purgeSeconds, forKey: .purgeSeconds)
        try c.encode(training, forKey: .training)
    }
}

// MARK: - Scores

/// How well probabilities predicted binary outcomes.
public struct ClassificationScores: Sendable, Hashable, Codable {
    public var samples: Int
    /// Number of outcomes that were wins.
    public var positives: Int
    /// Number of correct calls: a probability ≥ 0.5 calls a win, below 0.5 a loss.
    public var correct: Int
    /// `correct / samples` (threshold 0.5, as for `correct`).
    public var accuracy: Double
    /// ROC AUC: the probability that a random win got a higher probability than a random loss, ties counting
    /// one half (computed from average ranks). 0.5 = no skill; also 0.5 when only one class is present, where the
    /// AUC is undefined (see `ClassificationScores.rocAUC`).
    public var auc: Double
    /// Mean negative log-likelihood (natural log), probabilities clamped to [1e-15, 1 − 1e-15].
    public var logLoss: Double
    /// Mean squared difference between probability and outcome (1 = win, 0 = loss).
    public var brier: Double
    /// `positives / samples`.
    public var baseRate: Double

    /// Scores `probabilities[i]` as predictions of `labels[i]`. nil when the arrays are empty, differ in length,
    /// or a probability is outside [0, 1] or NaN.
    public init?(probabilities: [Double], labels: [Bool]) {
        let n = probabilities.count
        guard n > 0, labels.count == n, probabilities.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { return nil }
        var positives = 0
        var correct = 0
        var logLoss = 0.0
        var brier = 0.0
        for i in 0..<n {
            let p = probabilities[i]
            let won = labels[i]
            if won { positives += 1 }
            if (p >= 0.5) == won { correct += 1 }
            let clamped = min(max(p, 1e-15), 1 - 1e-15)
            logLoss -= won ? log(clamped) : log(1 - clamped)
            let error = p - (won ? 1 : 0)
            brier += error * error
        }
        self.samples = n
        self.positives = positives
        self.correct = correct
        self.accuracy = Double(correct) / Double(n)
        self.auc = Self.rocAUC(probabilities: probabilities, labels: labels) ?? 0.5
        self.logLoss = logLoss / Double(n)
        self.brier = brier / Double(n)
        self.baseRate = Double(positives) / Double(n)
    }

    /// ROC AUC by the rank-sum (Mann–Whitney) formula with average ranks for tied probabilities:
    /// `(Σ ranks of wins − P(P+1)/2) / (P·N)`. nil when the arrays differ in length or there is not at least one
    /// win and one loss.
    public static func rocAUC(probabilities: [Double], labels: [Bool]) -> Double? {
        let n = probabilities.count
        guard labels.count == n else { return nil }
        let positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        let negatives = n - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = (0..<n).sorted { a, b in
            probabilities[a] != probabilities[b] ? probabilities[a] < probabilities[b] : a < b
        }
        var rankSum = 0.0
        var start = 0
        while start < n {
            var end = start
            while end + 1 < n && probabilities[order[end + 1]] == probabilities[order[start]] { end += 1 }
            // Positions start…end (0-based) share the average 1-based rank.
            let averageRank = Double(start + end + 2) / 2
            for k in start...end where labels[order[k]] { rankSum += averageRank }
            start = end + 1
        }
        let p = Double(positives)
        return (rankSum - p * (p + 1) / 2) / (p * Double(negatives))
    }
}

// MARK: - Report

/// One walk-forward fold.
public struct FoldResult: Sendable, Hashable, Codable {
    /// 1 … folds; tests on block `fold` after training on the blocks before it.
    public var fold: Int
    /// Training samples used (after the purge).
    public var trainSamples: Int
    /// Training candidates dropped by the purge.
    public var purged: Int
    public var testSamples: Int
    /// Time range of the training samples used; 0 when there are none.
    public var trainFrom: Int64
    public var trainTo: Int64
    /// Time range of the test samples; 0 when there are none.
    public var testFrom: Int64
    public var testTo: Int64
    /// nil when the fold could not train (too few samples or one class) or has no test samples.
    public var scores: ClassificationScores?

    public init(fold: Int, trainSamples: Int, purged: Int, testSamples: Int, trainFrom: Int64, trainTo: Int64,
                testFrom: Int64, testTo: Int64, scores: ClassificationScores?) {
        self.fold = fold
        self.trainSamples = trainSamples
        self.purged = purged
        self.testSamples = testSamples
        self.trainFrom = trainFrom
        self.trainTo = trainTo
        self.testFrom = testFrom
        self.testTo = testTo
        self.scores = scores
    }
}

/// Out-of-sample evaluation of the learned member.
public struct WalkForwardReport: Sendable, Hashable, Codable {
    /// The parameters used (as given, before clamping).
    public var parameters: WalkForwardParameters
    /// Samples evaluated (split into blocks).
    public var samples: Int
    /// Samples left out because their feature count differed from the feature names'.
    public var ignoredSamples: Int
    public var folds: [FoldResult]
    /// Over all out-of-sample predictions together (the test samples of the folds that trained); nil when none.
    public var pooled: ClassificationScores?
    /// Out-of-sample accuracy against a fair coin: the one-sided probability of at least `pooled.correct` correct
    /// calls out of `pooled.samples` when each call is right with probability ½ (exact binomial tail).
    /// nil when there are no predictions.
    public var coinFlipPValue: Double?
    /// Accuracy, on the same out-of-sample predictions, of always calling the class that was the majority in the
    /// fold's training samples (a tie calls a win). nil when there are no predictions.
    public var majorityAccuracy: Double?
    /// One-sided exact McNemar test of the model against that majority call: among the predictions where exactly
    /// one of the two is right, the probability of the model being the right one at least as often as observed
    /// if each were equally likely. 1 when they never disagree; nil when there are no predictions.
    public var majorityPValue: Double?
    /// pooled AUC > 0.5 and coinFlipPValue < 0.05.
    public var beatsCoinFlip: Bool
    /// pooled AUC > 0.5 and majorityPValue < 0.05 — the stricter test when wins and losses are unbalanced (always
    /// calling the majority class already beats a coin when the base rate is far from ½).
    public var beatsMajority: Bool

    /// A readable multi-line table: per fold the train / purged / test counts, test period, accuracy, AUC, log
    /// loss and Brier score; the pooled scores; the baselines and a verdict.
    public func text() -> String {
        var lines: [String] = []
        lines.append("Walk-forward evaluation: \(samples) samples"
            + (ignoredSamples > 0 ? " (\(ignoredSamples) ignored: wrong feature count)" : "")
            + ", \(folds.count) folds, purge \(parameters.purgeSeconds) s")
        let header = [pad("fold", 4), pad("train", 7), pad("purged", 7), pad("test", 6),
                      pad("test period", 23, left: true),
                      pad("accuracy", 9), pad("AUC", 7), pad("log loss", 9), pad("Brier", 7)]
        lines.append(header.joined(separator: " "))
        for fold in folds {
            var cells = [pad(String(fold.fold), 4), pad(String(fold.trainSamples), 7), pad(String(fold.purged), 7),
                         pad(String(fold.testSamples), 6)]
            let period = fold.testSamples > 0 ? "\(Self.date(fold.testFrom)) … \(Self.date(fold.testTo))" : "-"
            cells.append(pad(period, 23, left: true))
            if let s = fold.scores {
                cells += [pad(Self.fixed(s.accuracy, 4), 9), pad(Self.fixed(s.auc, 4), 7),
                          pad(Self.fixed(s.logLoss, 4), 9), pad(Self.fixed(s.brier, 4), 7)]
            } else {
                cells.append("  (not trained: too few samples or one class)")
            }
            lines.append(cells.joined(separator: " "))
        }
        if let s = pooled {
            let cells = [pad("all", 4), pad("", 7), pad("", 7), pad(String(s.samples), 6),
                         pad("pooled", 23, left: true),
                         pad(Self.fixed(s.accuracy, 4), 9), pad(Self.fixed(s.auc, 4), 7),
                         pad(Self.fixed(s.logLoss, 4), 9), pad(Self.fixed(s.brier, 4), 7)]
            lines.append(cells.joined(separator: " "))
            lines.append("base rate \(Self.fixed(s.baseRate, 4)); correct \(s.correct) of \(s.samples)")
            if let p = coinFlipPValue {
                lines.append("vs coin flip: p = \(Self.pValue(p)) (one-sided binomial)")
            }
            if let m = majorityAccuracy, let p = majorityPValue {
                lines.append("vs majority class: accuracy \(Self.fixed(m, 4)), "
                    + "p = \(Self.pValue(p)) (one-sided McNemar)")
            }
            let verdict: String
            if beatsMajority {
                verdict = "beats a coin flip and the majority class"
            } else if beatsCoinFlip {
                verdict = "beats a coin flip, but not significantly the majority class"
            } else {
                verdict = "does NOT beat a coin flip (needs pooled AUC > 0.5 and p < 0.05)"
            }
            lines.append("verdict: " + verdict)
        } else {
            lines.append("no out-of-sample predictions (no fold could train)")
            lines.append("verdict: does NOT beat a coin flip (nothing to judge)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let gap = max(0, width - s.count)
        let spaces = String(repeating: " ", count: gap)
        return left ? s + spaces : spaces + s
    }

    /// `x` with exactly `digits` decimals (round half away from zero), without Foundation formatting.
    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
        var power: Int64 = 1
        for _ in 0..<digits { power *= 10 }
        let scaled = (abs(x) * Double(power)).rounded(.toNearestOrAwayFromZero)
        guard scaled < 9e15 else { return "\(x)" }
        let value = Int64(scaled)
        let sign = x < 0 && value != 0 ? "-" : ""
        guard digits > 0 else { return sign + String(value) }
        var fraction = String(value % power)
        while fraction.count < digits { fraction = "0" + fraction }
        return "\(sign)\(value / power).\(fraction)"
    }

    private static func pValue(_ p: Double) -> String {
        p < 0.0001 ? "< 0.0001" : fixed(p, 4)
    }

    private static func date(_ time: Int64) -> String {
        let (year, month, day) = CivilTime.date(days: CivilTime.day(of: time))
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
        return "\(year)-\(two(month))-\(two(day))"
    }
}

// MARK: - Evaluation

/// Honest out-of-sample evaluation of `LogisticModel` by purged, expanding-window walk-forward splits.
public enum WalkForward {
    /// Which samples one fold trains on, purges and tests on, as indices into the caller's sample array.
    public struct FoldPlan: Sendable, Hashable, Codable {
        /// 1 … folds.
        public var fold: Int
        /// Training samples kept, in time order.
        public var train: [Int]
        /// Training candidates dropped by the purge, in time order.
        public var purged: [Int]
        /// Test samples, in time order.
        public var test: [Int]
    }

    /// The splits `evaluate` uses (see `WalkForwardParameters` for the rules). Samples whose feature count is not
    /// `featureCount` are left out. Samples with equal `time` keep their input order.
    ///
    /// Guarantees: every kept training sample has `max(time, resolvedAt)` < first test time − max(0, purgeSeconds),
    /// so it precedes every test sample of its fold in time.
    public static func plan(_ samples: [LabelledSample], featureCount: Int,
                            parameters: WalkForwardParameters = .init()) -> [FoldPlan] {
        let order = samples.indices.filter { samples[$0].features.count == featureCount }.sorted { a, b in
            samples[a].time != samples[b].time ? samples[a].time < samples[b].time : a < b
        }
        let n = order.count
        let folds = max(1, min(parameters.folds, n))
        let purge = max(0, parameters.purgeSeconds)
        func bound(_ block: Int) -> Int { block * n / (folds + 1) }
        var plans: [FoldPlan] = []
        for k in 1...folds {
            let candidates = order[0..<bound(k)]
            let test = Array(order[bound(k)..<bound(k + 1)])
            guard let firstTest = test.first else {
                plans.append(FoldPlan(fold: k, train: Array(candidates), purged: [], test: []))
                continue
            }
            let (difference, overflow) = samples[firstTest].time.subtractingReportingOverflow(purge)
            let cutoff = overflow ? Int64.min : difference
            var train: [Int] = []
            var purged: [Int] = []
            for index in candidates {
                let known = max(samples[index].time, samples[index].resolvedAt)
                if known >= cutoff { purged.append(index) } else { train.append(index) }
            }
            plans.append(FoldPlan(fold: k, train: train, purged: purged, test: test))
        }
        return plans
    }

    /// Trains a model per fold on the fold's purged training samples, predicts the fold's test samples, and scores
    /// the predictions per fold and pooled, against a coin flip and against always calling the training majority.
    /// Deterministic.
    public static func evaluate(_ samples: [LabelledSample], featureNames: [String],
                                parameters: WalkForwardParameters = .init()) -> WalkForwardReport {
        let featureCount = featureNames.count
        let usable = samples.reduce(0) { $0 + ($1.features.count == featureCount ? 1 : 0) }
        var results: [FoldResult] = []
        var pooledProbabilities: [Double] = []
        var pooledLabels: [Bool] = []
        var majorityCorrect = 0
        var modelOnlyRight = 0
        var majorityOnlyRight = 0
        for plan in plan(samples, featureCount: featureCount, parameters: parameters) {
            let training = plan.train.map { samples[$0] }
            let testing = plan.test.map { samples[$0] }
            var scores: ClassificationScores? = nil
            if !testing.isEmpty,
               let model = LogisticModel.train(training, featureNames: featureNames, parameters: parameters.training) {
                let probabilities = testing.map { model.probability($0.features) }
                let labels = testing.map(\.label)
                scores = ClassificationScores(probabilities: probabilities, labels: labels)
                let trainingWins = training.reduce(0) { $0 + ($1.label ? 1 : 0) }
                let majority = 2 * trainingWins >= training.count
                for (p, label) in zip(probabilities, labels) {
                    let modelRight = (p >= 0.5) == label
                    let majorityRight = majority == label
                    if majorityRight { majorityCorrect += 1 }
                    if modelRight && !majorityRight { modelOnlyRight += 1 }
                    if majorityRight && !modelRight { majorityOnlyRight += 1 }
                }
                pooledProbabilities += probabilities
                pooledLabels += labels
            }
            results.append(FoldResult(
                fold: plan.fold, trainSamples: training.count, purged: plan.purged.count, testSamples: testing.count,
                trainFrom: training.first?.time ?? 0, trainTo: training.last?.time ?? 0,
                testFrom: testing.first?.time ?? 0, testTo: testing.last?.time ?? 0, scores: scores))
        }
        let pooled = ClassificationScores(probabilities: pooledProbabilities, labels: pooledLabels)
        var coinFlipPValue: Double? = nil
        var majorityAccuracy: Double? = nil
        var majorityPValue: Double? = nil
        if let pooled {
            coinFlipPValue = binomialUpperTail(successes: pooled.correct, trials: pooled.samples)
            majorityAccuracy = Double(majorityCorrect) / Double(pooled.samples)
            majorityPValue = binomialUpperTail(successes: modelOnlyRight, trials: modelOnlyRight + majorityOnlyRight)
        }
        let skill = (pooled?.auc ?? 0) > 0.5
        return WalkForwardReport(
            parameters: parameters, samples: usable, ignoredSamples: samples.count - usable, folds: results,
            pooled: pooled, coinFlipPValue: coinFlipPValue, majorityAccuracy: majorityAccuracy,
            majorityPValue: majorityPValue,
            beatsCoinFlip: skill && (coinFlipPValue ?? 1) < 0.05,
            beatsMajority: skill && (majorityPValue ?? 1) < 0.05)
    }

    /// P(X ≥ successes) for X ~ Binomial(trials, ½): the one-sided p-value of at least `successes` right calls out
    /// of `trials` fair coin flips. Exact (the tail is summed term by term in a scaled form that cannot underflow
    /// before the result does); 1 for `successes` ≤ 0, 0 for `successes` > `trials`.
    public static func binomialUpperTail(successes k: Int, trials n: Int) -> Double {
        if k <= 0 { return 1 }
        if k > n { return 0 }
        if 2 * k > n { return upperTail(from: k, trials: n) }
        // By symmetry P(X ≤ k − 1) = P(X ≥ n − k + 1), whose start lies above the mean.
        return 1 - upperTail(from: n - k + 1, trials: n)
    }

    /// P(X ≥ m) for m > n/2, where the probabilities decrease from m on.
    private static func upperTail(from m: Int, trials n: Int) -> Double {
        // log C(n, m) = Σ_{i=1}^{n−m} log((m + i) / i)
        var logChoose = 0.0
        if n > m {
            for i in 1...(n - m) { logChoose += log(Double(m + i) / Double(i)) }
        }
        let logFirst = logChoose - Double(n) * log(2.0)
        // Σ_{j≥m} P(X = j) / P(X = m), terms shrinking by (n − j) / (j + 1) < 1.
        var term = 1.0
        var sum = 1.0
        var j = m
        while j < n {
            term *= Double(n - j) / Double(j + 1)
            sum += term
            if term < sum * 1e-17 { break }
            j += 1
        }
        return min(1, exp(logFirst + log(sum)))
    }
}
