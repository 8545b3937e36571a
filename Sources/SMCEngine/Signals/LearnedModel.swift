import Foundation  // JSONEncoder / JSONDecoder, and the C math functions (exp, log, log1p)

// MARK: - Samples and parameters

/// One labelled setup: the engineered feature vector of a signal and whether it won.
///
/// `time` is when the signal was emitted and `resolvedAt` when its outcome became known, both in epoch seconds;
/// `resolvedAt` should be ≥ `time` (walk-forward evaluation treats an earlier `resolvedAt` as `time`).
/// `label` is `true` when the target was hit before the stop (a win). Expired setups are not samples.
public struct LabelledSample: Sendable, Hashable, Codable {
    public var time: Int64
    public var resolvedAt: Int64
    public var features: [Double]
    /// `true` = win (target hit first), `false` = loss (stop hit first).
    public var label: Bool

    public init(time: Int64, resolvedAt: Int64, features: [Double], label: Bool) {
        self.time = time
        self.resolvedAt = resolvedAt
        self.features = features
        self.label = label
    }
}

/// How `LogisticModel.train` fits.
///
/// The fit minimises `Σ logLoss(sample) + l2 / 2 · Σ weight²` (a sum over samples, not a mean, so the penalty
/// matters less as the sample count grows) by Newton–Raphson (IRLS) with step halving. Weights are those of the
/// standardized features; the intercept is never penalised.
///
/// Decoding accepts a partial object: missing keys take their defaults.
public struct TrainingParameters: Sendable, Hashable, Codable {
    /// Ridge penalty on the standardized weights. Default 1.0. Values that are not finite or are below 1e-6 are
    /// raised to 1e-6, so the Newton system is always positive definite.
    public var l2: Double
    /// Maximum Newton iterations. Default 50. The fit stops earlier once no coordinate of a step exceeds 1e-9.
    /// 0 gives the intercept-only model (the training base rate, all weights 0).
    public var maxIterations: Int
    /// Fewer samples than this and training refuses (returns nil). Default 30. At least 2 are always needed.
    public var minimumSamples: Int

    /// The defaults: `l2` 1.0, `maxIterations` 50, `minimumSamples` 30.
    public init() {
        self.init(l2: 1.0)
    }

    public init(l2: Double, maxIterations: Int = 50, minimumSamples: Int = 30) {
        self.l2 = l2
        self.maxIterations = maxIterations
        self.minimumSamples = minimumSamples
    }

    private enum CodingKeys: String, CodingKey {
        case l2, maxIterations, minimumSamples
    }

    public init(from decoder: any Decoder) throws {
        let defaults = TrainingParameters()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        l2 = try c.decodeIfPresent(Double.self, forKey: .l2) ?? defaults.l2
        maxIterations = try c.decodeIfPresent(Int.self, forKey: .maxIterations) ?? defaults.maxIterations
        minimumSamples = try c.decodeIfPresent(Int.self, forKey: .minimumSamples) ?? defaults.minimumSamples
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(l2, forKey: .l2)
        try c.encode(maxIterations, forKey: .maxIterations)
        try c.encode(minimumSamples, forKey: .minimumSamples)
    }

    /// The penalty actually used (see `l2`).
    var effectiveL2: Double {
        l2.isFinite && l2 >= 1e-6 ? l2 : 1e-6
    }
}

// MARK: - The model

/// A logistic-regression model over standardized features, persisted as a small versioned JSON file.
///
/// Prediction: each feature `x[j]` is standardized as `(x[j] − means[j]) / scales[j]`; the linear predictor is
/// `intercept + Σ weights[j] · standardized[j]`, clamped to [−35, 35] so that the probability `1 / (1 + e^−z)`
/// stays strictly inside (0, 1).
///
/// Invariants (checked when decoding or building with `init(featureNames:…)`): `featureNames`, `means`, `scales`
/// and `weights` have the same length; every number is finite; every scale is > 0; `trainedSamples` ≥ 0;
/// `trainedFrom` ≤ `trainedTo`.
public struct LogisticModel: Sendable, Hashable, Codable {
    /// The file format this code writes and the only one it reads.
    public static let formatVersion: Int = 1

    /// Format of this value; `encoded()` writes it as is, decoding refuses anything but `LogisticModel.formatVersion`.
    public var formatVersion: Int
    /// Names of the features, in the order of the feature vectors.
    public var featureNames: [String]
    /// Training-set mean of each feature (over its finite values).
    public var means: [Double]
    /// Training-set standard deviation of each feature (population, over its finite values). A feature that is
    /// constant (or has no finite value) in training gets scale 1 and weight 0, so it is ignored.
    public var scales: [Double]
    /// Weights of the standardized features.
    public var weights: [Double]
    /// Log-odds of a win for a setup whose features all equal the training means.
    public var intercept: Double
    /// Number of samples the model was trained on.
    public var trainedSamples: Int
    /// Earliest training sample's `time` (epoch s).
    public var trainedFrom: Int64
    /// Latest training sample's `time` (epoch s).
    public var trainedTo: Int64

    /// A model from its parts, with the current `formatVersion`.
    /// Throws `SMCParameterError` code `invalid_model` when the invariants above do not hold.
    public init(featureNames: [String], means: [Double], scales: [Double], weights: [Double], intercept: Double,
                trainedSamples: Int, trainedFrom: Int64, trainedTo: Int64) throws(SMCParameterError) {
        self.init(unchecked: featureNames, means: means, scales: scales, weights: weights, intercept: intercept,
                  trainedSamples: trainedSamples, trainedFrom: trainedFrom, trainedTo: trainedTo)
        try validate()
    }

    /// Builds without checking; for `train`, whose output satisfies the invariants by construction.
    private init(unchecked featureNames: [String], means: [Double], scales: [Double], weights: [Double],
                 intercept: Double, trainedSamples: Int, trainedFrom: Int64, trainedTo: Int64) {
        self.formatVersion = Self.formatVersion
        self.featureNames = featureNames
        self.means = means
        self.scales = scales
        self.weights = weights
        self.intercept = intercept
        self.trainedSamples = trainedSamples
        self.trainedFrom = trainedFrom
        self.trainedTo = trainedTo
    }

    /// Throws `invalid_model` unless the format version is the current one and the invariants hold.
    public func validate() throws(SMCParameterError) {
        func invalid(_ message: String) -> SMCParameterError {
            SMCParameterError(code: "invalid_model", message: message)
        }
        guard formatVersion == Self.formatVersion else {
            throw invalid("unsupported model format version \(formatVersion) (this build reads \(Self.formatVersion))")
        }
        let d = featureNames.count
        guard means.count == d, scales.count == d, weights.count == d else {
            throw invalid("model arrays disagree in length: \(d) feature names, \(means.count) means, "
                + "\(scales.count) scales, \(weights.count) weights")
        }
        guard means.allSatisfy(\.isFinite), weights.allSatisfy(\.isFinite), intercept.isFinite else {
            throw invalid("model contains a non-finite mean, weight or intercept")
        }
        guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw invalid("model contains a scale that is not a finite positive number")
        }
        guard trainedSamples >= 0 else { throw invalid("model has a negative trainedSamples") }
        guard trainedFrom <= trainedTo else { throw invalid("model has trainedFrom after trainedTo") }
    }

    // MARK: Prediction

    /// The log-odds of a win, clamped to [−35, 35].
    ///
    /// A feature that is NaN or ±infinity counts as its training mean (contributes nothing), as does a feature
    /// missing because `features` is shorter than `featureNames`; extra trailing features are ignored. Features
    /// with weight 0 never contribute. If the sum is undefined (infinite contributions of both signs, from
    /// standardized values that overflow) the result is 0.
    public func linearPredictor(_ features: [Double]) -> Double {
        var z = intercept
        let count = min(features.count, weights.count)
        for j in 0..<count {
            let x = features[j]
            let w = weights[j]
            guard x.isFinite, w != 0 else { continue }
            z += w * ((x - means[j]) / scales[j])
        }
        if z.isNaN { return 0 }
        return min(max(z, -Self.linearPredictorLimit), Self.linearPredictorLimit)
    }

    /// The estimated probability that the setup wins, strictly inside (0, 1). See `linearPredictor` for how
    /// missing and non-finite features are treated.
    public func probability(_ features: [Double]) -> Double {
        Self.sigmoid(linearPredictor(features))
    }

    /// Bound of the linear predictor: `1 / (1 + e^−35)` is still below 1 in double precision.
    static let linearPredictorLimit: Double = 35

    /// Weights in the features' own units: `weights[j] / scales[j]`.
    public var unstandardizedWeights: [Double] {
        zip(weights, scales).map { $0 / $1 }
    }

    /// Intercept in the features' own units: `intercept − Σ weights[j] · means[j] / scales[j]`.
    public var unstandardizedIntercept: Double {
        var b = intercept
        for j in weights.indices { b -= weights[j] * means[j] / scales[j] }
        return b
    }

    // MARK: Persistence

    /// The model as pretty-printed JSON with sorted keys; the same model always gives the same bytes, and
    /// `init(decoding:)` of those bytes gives back an equal model.
    ///
    /// A model whose numbers were edited to NaN or infinity is still written (as the strings "NaN", "Infinity",
    /// "-Infinity"), but decoding will refuse it.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        guard let data = try? encoder.encode(self) else { return [] }
        return [UInt8](data)
    }

    /// Reads a model written by `encoded()`.
    ///
    /// Throws `SMCParameterError` code `invalid_model` for bytes that are not such a JSON object, an unknown
    /// `formatVersion`, arrays of different lengths, or non-finite numbers (see the type's invariants).
    public init(decoding bytes: [UInt8]) throws(SMCParameterError) {
        do {
            self = try JSONDecoder().decode(LogisticModel.self, from: Data(bytes))
        } catch let error as SMCParameterError {
            throw error
        } catch {
            throw SMCParameterError(code: "invalid_model", message: "not a readable model file: \(error)")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case formatVersion, featureNames, means, scales, weights, intercept, trainedSamples, trainedFrom, trainedTo
    }

    /// Decodes and validates: the version is checked first (a future format may have other keys), then the
    /// invariants. Failures of either are thrown as `SMCParameterError` code `invalid_model`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .formatVersion)
        guard version == Self.formatVersion else {
            throw SMCParameterError(
                code: "invalid_model",
                message: "unsupported model format version \(version) (this build reads \(Self.formatVersion))")
        }
        self.init(unchecked: try c.decode([String].self, forKey: .featureNames),
                  means: try c.decode([Double].self, forKey: .means),
                  scales: try c.decode([Double].self, forKey: .scales),
                  weights: try c.decode([Double].self, forKey: .weights),
                  intercept: try c.decode(Double.self, forKey: .intercept),
                  trainedSamples: try c.decode(Int.self, forKey: .trainedSamples),
                  trainedFrom: try c.decode(Int64.self, forKey: .trainedFrom),
                  trainedTo: try c.decode(Int64.self, forKey: .trainedTo))
        try validate()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(featureNames, forKey: .featureNames)
        try c.encode(means, forKey: .means)
        try c.encode(scales, forKey: .scales)
        try c.encode(weights, forKey: .weights)
        try c.encode(intercept, forKey: .intercept)
        try c.encode(trainedSamples, forKey: .trainedSamples)
        try c.encode(trainedFrom, forKey: .trainedFrom)
        try c.encode(trainedTo, forKey: .trainedTo)
    }

    // MARK: Training

    /// Fits a model to `samples`.
    ///
    /// Rules:
    /// - Returns nil when there are fewer than `parameters.minimumSamples` samples (and always below 2), when all
    ///   labels are the same, or when some sample's feature count differs from `featureNames.count`.
    /// - Each feature is standardized with its training mean and population standard deviation, both over its
    ///   finite values; non-finite values count as the mean. A feature whose finite values are all equal (or that
    ///   has none) gets scale 1, mean equal to that value (or 0), and weight exactly 0.
    /// - The penalised log-likelihood is maximised by Newton–Raphson from the intercept-only solution; each step
    ///   is halved until the objective does not increase; iteration stops after `parameters.maxIterations` steps
    ///   or when no coordinate of a step exceeds 1e-9.
    /// - Deterministic: the same samples in the same order give a bit-identical model.
    public static func train(_ samples: [LabelledSample], featureNames: [String],
                             parameters: TrainingParameters = .init()) -> LogisticModel? {
        trainDetailed(samples, featureNames: featureNames, parameters: parameters)?.model
    }

    /// `train`, also reporting how many Newton iterations ran and whether the step tolerance was reached.
    public static func trainDetailed(_ samples: [LabelledSample], featureNames: [String],
                                     parameters: TrainingParameters = .init())
        -> (model: LogisticModel, iterations: Int, converged: Bool)? {
        let n = samples.count
        let d = featureNames.count
        guard n >= max(parameters.minimumSamples, 2) else { return nil }
        var positives = 0
        var from = Int64.max
        var to = Int64.min
        for sample in samples {
            guard sample.features.count == d else { return nil }
            if sample.label { positives += 1 }
            from = min(from, sample.time)
            to = max(to, sample.time)
        }
        guard positives > 0, positives < n else { return nil }

        // Standardization statistics.
        var means = [Double](repeating: 0, count: d)
        var scales = [Double](repeating: 1, count: d)
        var active = [Bool](repeating: false, count: d)
        for j in 0..<d {
            var count = 0
            var sum = 0.0
            var first = Double.nan
            var allEqual = true
            for sample in samples {
                let x = sample.features[j]
                guard x.isFinite else { continue }
                if count == 0 { first = x } else if x != first { allEqual = false }
                count += 1
                sum += x
            }
            if count == 0 { continue }  // no finite value: mean 0, scale 1, inactive
            if allEqual {
                means[j] = first
                continue
            }
            let mean = sum / Double(count)
            var squares = 0.0
            for sample in samples {
                let x = sample.features[j]
                guard x.isFinite else { continue }
                let deviation = x - mean
                squares += deviation * deviation
            }
            let std = (squares / Double(count)).squareRoot()
            guard mean.isFinite, std.isFinite, std > 0 else { continue }  // overflowing statistics: ignore the feature
            means[j] = mean
            scales[j] = std
            active[j] = true
        }

        // Standardized design matrix (row-major, n × d) and labels.
        var design = [Double](repeating: 0, count: n * d)
        var labels = [Double](repeating: 0, count: n)
        for (i, sample) in samples.enumerated() {
            labels[i] = sample.label ? 1 : 0
            for j in 0..<d where active[j] {
                let x = sample.features[j]
                if x.isFinite {
                    let s = (x - means[j]) / scales[j]
                    design[i * d + j] = s.isFinite ? s : 0
                }
            }
        }

        let start = log(Double(positives) / Double(n - positives))
        let fit = NewtonFit(design: design, labels: labels, rows: n, columns: d, l2: parameters.effectiveL2)
        let result = fit.run(initialIntercept: start, maxIterations: max(0, parameters.maxIterations))
        var weights = result.weights
        for j in 0..<d where !active[j] { weights[j] = 0 }
        guard result.intercept.isFinite, weights.allSatisfy(\.isFinite) else { return nil }
        let model = LogisticModel(unchecked: featureNames, means: means, scales: scales, weights: weights,
                                  intercept: result.intercept, trainedSamples: n, trainedFrom: from, trainedTo: to)
        return (model, result.iterations, result.converged)
    }

    // MARK: Numerics

    /// `1 / (1 + e^−z)` without overflow for any z.
    static func sigmoid(_ z: Double) -> Double {
        if z >= 0 {
            return 1 / (1 + exp(-z))
        }
        let e = exp(z)
        return e / (1 + e)
    }

    /// `log(1 + e^z)` without overflow for any z.
    static func softplus(_ z: Double) -> Double {
        z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))
    }
}

/// Penalised logistic regression by Newton–Raphson on a standardized design matrix.
/// Parameter vector θ = [intercept, w₀, …, w_{d−1}]; objective Σ (softplus(zᵢ) − yᵢ·zᵢ) + λ/2·‖w‖².
struct NewtonFit {
    let design: [Double]
    let labels: [Double]
    let rows: Int
    let columns: Int
    let l2: Double

    /// Largest step coordinate at which the iteration counts as converged.
    static let stepTolerance = 1e-9

    func run(initialIntercept: Double, maxIterations: Int)
        -> (intercept: Double, weights: [Double], iterations: Int, converged: Bool) {
        let p = columns + 1
        var theta = [Double](repeating: 0, count: p)
        theta[0] = initialIntercept
        var iterations = 0
        var converged = false
        var gradient = [Double](repeating: 0, count: p)
        var hessian = [Double](repeating: 0, count: p * p)
        var candidate = theta
        while iterations < maxIterations {
            iterations += 1
            let current = derivatives(theta, gradient: &gradient, hessian: &hessian)
            guard let step = Self.solvePositiveDefinite(hessian, gradient, size: p) else { break }
            var factor = 1.0
            var accepted = false
            for _ in 0..<60 {
                for k in 0..<p { candidate[k] = theta[k] - factor * step[k] }
                let value = objective(candidate)
                if value <= current + 1e-12 * max(1, abs(current)) {
                    accepted = true
                    break
                }
                factor *= 0.5
            }
            if !accepted {
                // No step direction decreases the objective any more: we are at the optimum up to rounding.
                converged = true
                break
            }
            var largest = 0.0
            for k in 0..<p { largest = max(largest, abs(factor * step[k])) }
            swap(&theta, &candidate)
            if largest < Self.stepTolerance {
                converged = true
                break
            }
        }
        return (theta[0], Array(theta[1...]), iterations, converged)
    }

    /// The penalised objective at θ.
    func objective(_ theta: [Double]) -> Double {
        let d = columns
        var total = 0.0
        design.withUnsafeBufferPointer { x in
            theta.withUnsafeBufferPointer { t in
                labels.withUnsafeBufferPointer { y in
                    for i in 0..<rows {
                        var z = t[0]
                        let row = i * d
                        for j in 0..<d { z += t[j + 1] * x[row + j] }
                        total += LogisticModel.softplus(z) - y[i] * z
                    }
                }
            }
        }
        var penalty = 0.0
        for j in 1..<theta.count { penalty += theta[j] * theta[j] }
        return total + 0.5 * l2 * penalty
    }

    /// Fills the gradient and the (full, symmetric) Hessian of the objective at θ and returns the objective.
    func derivatives(_ theta: [Double], gradient: inout [Double], hessian: inout [Double]) -> Double {
        let d = columns
        let p = d + 1
        var total = 0.0
        for k in gradient.indices { gradient[k] = 0 }
        for k in hessian.indices { hessian[k] = 0 }
        design.withUnsafeBufferPointer { x in
            theta.withUnsafeBufferPointer { t in
                labels.withUnsafeBufferPointer { y in
                    gradient.withUnsafeMutableBufferPointer { g in
                        hessian.withUnsafeMutableBufferPointer { h in
                            for i in 0..<rows {
                                let row = i * d
                                var z = t[0]
                                for j in 0..<d { z += t[j + 1] * x[row + j] }
                                let probability = LogisticModel.sigmoid(z)
                                let residual = probability - y[i]
                                let weight = probability * (1 - probability)
                                total += LogisticModel.softplus(z) - y[i] * z
                                g[0] += residual
                                h[0] += weight
                                for j in 0..<d {
                                    let xj = x[row + j]
                                    g[j + 1] += residual * xj
                                    let wx = weight * xj
                                    h[j + 1] += wx  // row 0 (intercept), column j + 1
                                    let base = (j + 1) * p + 1
                                    for k in j..<d { h[base + k] += wx * x[row + k] }
                                }
                            }
                        }
                    }
                }
            }
        }
        var penalty = 0.0
        for j in 1..<p {
            penalty += theta[j] * theta[j]
            gradient[j] += l2 * theta[j]
            hessian[j * p + j] += l2
        }
        // Mirror the upper triangle.
        for r in 0..<p {
            for c in (r + 1)..<p { hessian[c * p + r] = hessian[r * p + c] }
        }
        return total + 0.5 * l2 * penalty
    }

    /// Solves `a · x = b` for a symmetric positive definite `a` (row-major, size × size) by Cholesky. If rounding
    /// makes `a` not quite positive definite, a growing multiple of its largest diagonal entry is added to the
    /// diagonal (deterministically). nil only when even that fails or produces non-finite numbers.
    static func solvePositiveDefinite(_ a: [Double], _ b: [Double], size n: Int) -> [Double]? {
        var largestDiagonal = 0.0
        for i in 0..<n { largestDiagonal = max(largestDiagonal, abs(a[i * n + i])) }
        var jitter = 0.0
        for attempt in 0..<12 {
            if attempt > 0 { jitter = largestDiagonal * 1e-12 * pow10(attempt - 1) + Double.leastNormalMagnitude }
            if let x = choleskySolve(a, b, size: n, jitter: jitter), x.allSatisfy(\.isFinite) { return x }
        }
        return nil
    }

    private static func pow10(_ k: Int) -> Double {
        var r = 1.0
        for _ in 0..<k { r *= 10 }
        return r
    }

    private static func choleskySolve(_ a: [Double], _ b: [Double], size n: Int, jitter: Double) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                if i == j { s += jitter }
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        // L · y = b
        var y = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = b[i]
            for k in 0..<i { s -= l[i * n + k] * y[k] }
            y[i] = s / l[i * n + i]
        }
        // Lᵀ · x = y
        var x = [Double](repeating: 0, count: n)
        for i in stride(from: n - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<n { s -= l[k * n + i] * x[k] }
            x[i] = s / l[i * n + i]
        }
        return x
    }
}
