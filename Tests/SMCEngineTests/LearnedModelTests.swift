import Foundation
import Testing
@testable import SMCEngine

/// SplitMix: a small seeded generator, so every synthetic data set is the same on every run.

func sigmoid(_ z: Double) -> Double { 1 / (1 + exp(-z)) }

/// Samples one hour apart, resolved two hours later, from `logit = intercept + Σ coefficients·x` with
/// x[j] = means[j] + sds[j]·N(0,1). With `coefficients` all 0 and intercept 0 the labels are coin flips.
func synthetic(count: Int, seed: UInt64, coefficients: [Double], intercept: Double,
               means: [Double], sds: [Double]) -> [LabelledSample] {
    var rng = SplitMix(seed: seed)
    var samples: [LabelledSample] = []
    samples.reserveCapacity(count)
    for i in 0..<count {
        var x = [Double](repeating: 0, count: coefficients.count)
        var z = intercept
        for j in x.indices {
            x[j] = means[j] + sds[j] * rng.normal()
            z += coefficients[j] * x[j]
        }
        let label = rng.uniform() < sigmoid(z)
        let time = 1_700_000_000 + Int64(i) * 3_600
        samples.append(LabelledSample(time: time, resolvedAt: time + 7_200, features: x, label: label))
    }
    return samples
}

func names(_ d: Int) -> [String] { (0..<d).map { "f\($0)" } }

@Suite struct LogisticModelTests {
    // (1)
    @Test func recoversKnownCoefficients() throws {
        let beta = [0.8, -1.2, 0.15, 0.0]
        let means = [2.0, -1.0, 5.0, 0.3]
        let sds = [1.5, 0.5, 3.0, 2.0]
        let b = -0.4
        let samples = synthetic(count: 20_000, seed: 42, coefficients: beta, intercept: b, means: means, sds: sds)
        let result = try #require(LogisticModel.trainDetailed(samples, featureNames: names(4)))
        #expect(result.converged)
        let model = result.model
        let raw = model.unstandardizedWeights
        // Standard errors here are about 0.01 … 0.04; 0.1 allows ~3 of them and still catches a wrong fit.
        for j in beta.indices {
            #expect(abs(raw[j] - beta[j]) < 0.1, "feature \(j): \(raw[j]) vs \(beta[j])")
            // The standardized weight is the raw coefficient times the feature's spread.
            #expect(abs(model.weights[j] - beta[j] * model.scales[j]) < 0.1 * model.scales[j] + 1e-12)
            #expect(abs(model.means[j] - means[j]) < 0.1)
            #expect(abs(model.scales[j] - sds[j]) < 0.05 * sds[j])
        }
        #expect(abs(model.unstandardizedIntercept - b) < 0.2)
        #expect(model.trainedSamples == 20_000)
        #expect(model.trainedFrom == samples.first!.time && model.trainedTo == samples.last!.time)
        // The probability agrees with the raw-units formula.
        let x = [1.0, -2.0, 4.0, 0.0]
        var z = model.unstandardizedIntercept
        for j in x.indices { z += raw[j] * x[j] }
        #expect(abs(model.probability(x) - sigmoid(z)) < 1e-9)
    }

    @Test func strongerPenaltyShrinksWeights() throws {
        let samples = synthetic(count: 400, seed: 7, coefficients: [1.0, -1.0], intercept: 0, means: [0, 0], sds: [1, 1])
        let loose = try #require(LogisticModel.train(samples, featureNames: names(2), parameters: .init(l2: 0.01)))
        let tight = try #require(LogisticModel.train(samples, featureNames: names(2), parameters: .init(l2: 1000)))
        #expect(abs(tight.weights[0]) < abs(loose.weights[0]) / 2)
        #expect(abs(tight.weights[1]) < abs(loose.weights[1]) / 2)
    }

    @Test func trainingIsDeterministic() throws {
        let samples = synthetic(count: 2_000, seed: 3, coefficients: [0.5, 0.2, -0.7], intercept: 0.1,
                                means: [0, 1, 2], sds: [1, 2, 3])
        let a = try #require(LogisticModel.train(samples, featureNames: names(3)))
        let b = try #require(LogisticModel.train(samples, featureNames: names(3)))
        #expect(a.encoded() == b.encoded())
    }

    // (7)
    @Test func refusesTooFewSamplesOrOneClass() {
        let samples = synthetic(count: 200, seed: 11, coefficients: [1.0], intercept: 0, means: [0], sds: [1])
        #expect(LogisticModel.train(Array(samples.prefix(29)), featureNames: ["f0"]) == nil)
        #expect(LogisticModel.train(Array(samples.prefix(30)), featureNames: ["f0"]) != nil)
        #expect(LogisticModel.train(Array(samples.prefix(10)), featureNames: ["f0"],
                                    parameters: .init(l2: 1, minimumSamples: 10)) != nil)
        let allWins = samples.map { LabelledSample(time: $0.time, resolvedAt: $0.resolvedAt, features: $0.features, label: true) }
        let allLosses = samples.map { LabelledSample(time: $0.time, resolvedAt: $0.resolvedAt, features: $0.features, label: false) }
        #expect(LogisticModel.train(allWins, featureNames: ["f0"]) == nil)
        #expect(LogisticModel.train(allLosses, featureNames: ["f0"]) == nil)
        // A feature vector of the wrong length.
        var broken = samples
        broken[5].features.append(1)
        #expect(LogisticModel.train(broken, featureNames: ["f0"]) == nil)
    }

    // (8)
    @Test func constantAndMissingFeaturesDoNotProduceNaN() throws {
        var samples = synthetic(count: 500, seed: 5, coefficients: [1.0], intercept: 0, means: [0], sds: [1])
        for i in samples.indices {
            // 0.1 · 37 is not exactly 3.7, so a naive mean/variance would give a tiny non-zero spread.
            samples[i].features += [0.1 * 37, .nan]
        }
        let model = try #require(LogisticModel.train(samples, featureNames: ["signal", "constant", "missing"]))
        #expect(model.weights.allSatisfy(\.isFinite) && model.intercept.isFinite)
        #expect(model.weights[1] == 0 && model.scales[1] == 1 && model.means[1] == 0.1 * 37)
        #expect(model.weights[2] == 0 && model.scales[2] == 1 && model.means[2] == 0)
        #expect(model.weights[0] > 0.5)
        let p = model.probability([0.5, 100, 7])
        #expect(p.isFinite && p > 0 && p < 1)
        // A constant feature with a different value at prediction time changes nothing.
        #expect(model.probability([0.5, 100, 7]) == model.probability([0.5, 3.7, -7]))
        // Non-finite features count as the training mean.
        #expect(model.probability([.nan, .infinity, -.infinity]) == model.probability(model.means))
        #expect(model.probability([]) == model.probability(model.means))
        // Extreme inputs stay strictly inside (0, 1).
        #expect(model.probability([1e300, 0, 0]) < 1 && model.probability([-1e300, 0, 0]) > 0)
        // It survives a file round trip.
        #expect(try LogisticModel(decoding: model.encoded()) == model)
    }

    @Test func separableDataStaysFinite() throws {
        // Perfectly separable: the ridge keeps the weights finite.
        let samples = (0..<100).map { i in
            LabelledSample(time: Int64(i), resolvedAt: Int64(i), features: [Double(i)], label: i >= 50)
        }
        let model = try #require(LogisticModel.train(samples, featureNames: ["x"]))
        #expect(model.weights[0].isFinite && model.weights[0] > 1)
        #expect(model.probability([99]) > 0.9 && model.probability([0]) < 0.1)
    }

    // (4)
    @Test func fileRoundTripIsByteIdentical() throws {
        let samples = synthetic(count: 1_000, seed: 9, coefficients: [0.3, -0.2, 1.1], intercept: -0.3,
                                means: [0.1, 10, -3], sds: [0.01, 4, 1])
        let model = try #require(LogisticModel.train(samples, featureNames: ["ob/atr", "fvg \"size\"", "rsi"]))
        let bytes = model.encoded()
        #expect(!bytes.isEmpty)
        let decoded = try LogisticModel(decoding: bytes)
        #expect(decoded == model)
        #expect(decoded.encoded() == bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"formatVersion\" : 1"))
        // Keys are sorted.
        let featureNames = try #require(text.range(of: "\"featureNames\""))
        let weights = try #require(text.range(of: "\"weights\""))
        #expect(featureNames.lowerBound < weights.lowerBound)
    }

    @Test func decodingRefusesInvalidFiles() throws {
        let samples = synthetic(count: 300, seed: 13, coefficients: [0.5, 0.5], intercept: 0, means: [0, 0], sds: [1, 1])
        let model = try #require(LogisticModel.train(samples, featureNames: names(2)))

        func refused(_ bytes: [UInt8]) -> Bool {
            do throws(SMCParameterError) {
                _ = try LogisticModel(decoding: bytes)
                return false
            } catch {
                return error.code == "invalid_model"
            }
        }
        var wrongVersion = model
        wrongVersion.formatVersion = 2
        #expect(refused(wrongVersion.encoded()))
        var shortWeights = model
        shortWeights.weights.removeLast()
        #expect(refused(shortWeights.encoded()))
        var extraName = model
        extraName.featureNames.append("extra")
        #expect(refused(extraName.encoded()))
        var nanWeight = model
        nanWeight.weights[0] = .nan
        #expect(refused(nanWeight.encoded()))
        var infiniteMean = model
        infiniteMean.means[1] = .infinity
        #expect(refused(infiniteMean.encoded()))
        var zeroScale = model
        zeroScale.scales[0] = 0
        #expect(refused(zeroScale.encoded()))
        // A NaN literal written by some other tool, truncated JSON, and garbage.
        let text = String(decoding: model.encoded(), as: UTF8.self)
        let interceptLine = try #require(text.split(separator: "\n").first { $0.contains("\"intercept\"") })
        let nanLiteral = text.replacingOccurrences(of: String(interceptLine), with: "  \"intercept\" : NaN,")
        #expect(refused(Array(nanLiteral.utf8)))
        #expect(refused(Array(model.encoded().dropLast(5))))
        #expect(refused(Array("hello".utf8)))
        #expect(refused([]))
        // A missing key.
        let noIntercept = text.replacingOccurrences(of: String(interceptLine), with: "")
        #expect(refused(Array(noIntercept.utf8)))
        // The throwing memberwise initializer checks the same rules.
        #expect(throws: SMCParameterError.self) {
            try LogisticModel(featureNames: ["a"], means: [0], scales: [1], weights: [0, 1], intercept: 0,
                              trainedSamples: 1, trainedFrom: 0, trainedTo: 0)
        }
    }

    @Test(.timeLimit(.minutes(2))) func trainingTimeTwentyThousandBySixteen() throws {
        let d = 16
        let beta = (0..<d).map { Double($0 % 5) * 0.2 - 0.4 }
        let samples = synthetic(count: 20_000, seed: 99, coefficients: beta, intercept: 0.2,
                                means: [Double](repeating: 1, count: d), sds: [Double](repeating: 1, count: d))
        let clock = ContinuousClock()
        var result: (model: LogisticModel, iterations: Int, converged: Bool)?
        let elapsed = clock.measure {
            result = LogisticModel.trainDetailed(samples, featureNames: names(d))
        }
        let r = try #require(result)
        #expect(r.converged)
        print("TIMING: train n=20000 d=16: \(elapsed), \(r.iterations) Newton iterations")
        for j in 0..<d { #expect(abs(r.model.unstandardizedWeights[j] - beta[j]) < 0.12) }
    }
}

@Suite struct ScoringTests {
    // (5)
    @Test func aucOnHandComputedExamples() throws {
        // Wins at 0.5 and 0.9, losses at 0.2, 0.5, 0.5. Pairs (win, loss): 0.5 beats 0.2, ties 0.5 twice,
        // 0.9 beats all three → (1 + ½ + ½ + 3) / 6 = 5/6.
        let p = [0.2, 0.5, 0.5, 0.9, 0.5]
        let y = [false, true, false, true, false]
        #expect(abs(try #require(ClassificationScores.rocAUC(probabilities: p, labels: y)) - 5.0 / 6.0) < 1e-12)
        // The classic example: (0.1 L, 0.4 L, 0.35 W, 0.8 W) → 3 of 4 pairs ordered → 0.75.
        #expect(ClassificationScores.rocAUC(probabilities: [0.1, 0.4, 0.35, 0.8], labels: [false, false, true, true]) == 0.75)
        #expect(ClassificationScores.rocAUC(probabilities: [0.1, 0.2, 0.3], labels: [false, true, true]) == 1)
        #expect(ClassificationScores.rocAUC(probabilities: [0.1, 0.2, 0.3], labels: [true, false, false]) == 0)
        #expect(ClassificationScores.rocAUC(probabilities: [0.4, 0.4, 0.4, 0.4], labels: [true, false, true, false]) == 0.5)
        #expect(ClassificationScores.rocAUC(probabilities: [0.4, 0.6], labels: [true, true]) == nil)
    }

    @Test func scoresOnHandComputedExample() throws {
        let s = try #require(ClassificationScores(probabilities: [0.8, 0.3, 0.5, 0.6], labels: [true, false, false, false]))
        #expect(s.samples == 4 && s.positives == 1)
        #expect(s.correct == 2)  // 0.8 → win ✓, 0.3 → loss ✓, 0.5 → win ✗, 0.6 → win ✗
        #expect(s.accuracy == 0.5)
        #expect(s.baseRate == 0.25)
        let logLoss = -(log(0.8) + log(0.7) + log(0.5) + log(0.4)) / 4
        #expect(abs(s.logLoss - logLoss) < 1e-12)
        #expect(abs(s.brier - (0.04 + 0.09 + 0.25 + 0.36) / 4) < 1e-12)
        #expect(s.auc == 1)
        #expect(ClassificationScores(probabilities: [], labels: []) == nil)
        #expect(ClassificationScores(probabilities: [0.5], labels: [true, false]) == nil)
        #expect(ClassificationScores(probabilities: [.nan], labels: [true]) == nil)
        #expect(ClassificationScores(probabilities: [1.5], labels: [true]) == nil)
    }

    // (6)
    @Test func binomialPValueOnHandCheckedValues() {
        func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-12) -> Bool { abs(a - b) <= tolerance }
        // P(X ≥ 8 | n = 10) = (C(10,8) + C(10,9) + C(10,10)) / 2^10 = (45 + 10 + 1) / 1024
        #expect(close(WalkForward.binomialUpperTail(successes: 8, trials: 10), 56.0 / 1024))
        // P(X ≥ 5 | n = 10) = 1 − (1 + 10 + 45 + 120 + 210) / 1024 = 638 / 1024
        #expect(close(WalkForward.binomialUpperTail(successes: 5, trials: 10), 638.0 / 1024))
        // P(X ≥ 15 | n = 20) = (15504 + 4845 + 1140 + 190 + 20 + 1) / 2^20
        #expect(close(WalkForward.binomialUpperTail(successes: 15, trials: 20), 21_700.0 / 1_048_576))
        #expect(close(WalkForward.binomialUpperTail(successes: 10, trials: 10), 1.0 / 1024))
        #expect(close(WalkForward.binomialUpperTail(successes: 1, trials: 1), 0.5))
        #expect(WalkForward.binomialUpperTail(successes: 0, trials: 10) == 1)
        #expect(WalkForward.binomialUpperTail(successes: 11, trials: 10) == 0)
        #expect(WalkForward.binomialUpperTail(successes: 0, trials: 0) == 1)
        // Large n: normal approximation with continuity correction, z = (5099.5 − 5000) / 50 = 1.99 → 0.02330.
        #expect(close(WalkForward.binomialUpperTail(successes: 5_100, trials: 10_000), 0.02330, 3e-4))
        // Far tails neither overflow nor lose the mass near the mean.
        #expect(WalkForward.binomialUpperTail(successes: 60_000, trials: 100_000) < 1e-300)
        #expect(close(WalkForward.binomialUpperTail(successes: 40_000, trials: 100_000), 1))
        #expect(close(WalkForward.binomialUpperTail(successes: 50_001, trials: 100_001), 0.5, 1e-9))
    }

    @Test func fixedFormatting() {
        #expect(WalkForwardReport.fixed(0.12345, 4) == "0.1235")
        #expect(WalkForwardReport.fixed(-0.00004, 4) == "0.0000")
        #expect(WalkForwardReport.fixed(-2.5, 1) == "-2.5")
        #expect(WalkForwardReport.fixed(3, 0) == "3")
        #expect(WalkForwardReport.fixed(0.05, 3) == "0.050")
    }
}

@Suite struct WalkForwardTests {
    // (2)
    @Test func pureNoiseDoesNotBeatACoin() {
        let d = 6
        let samples = synthetic(count: 3_000, seed: 2024, coefficients: [Double](repeating: 0, count: d), intercept: 0,
                                means: [Double](repeating: 0, count: d), sds: [Double](repeating: 1, count: d))
        let report = WalkForward.evaluate(samples, featureNames: names(d))
        let pooled = report.pooled
        #expect(pooled != nil)
        #expect(abs((pooled?.auc ?? 0) - 0.5) < 0.04)
        #expect(!report.beatsCoinFlip)
        #expect(!report.beatsMajority)
        #expect(report.folds.count == 5)
        #expect(report.folds.allSatisfy { $0.scores != nil })
        #expect(pooled?.samples == report.folds.reduce(0) { $0 + $1.testSamples })
        #expect(report.text().contains("verdict: does NOT beat a coin flip"))
    }

    @Test func skewedNoiseDoesNotBeatTheMajority() {
        // About 3 wins in 4 and no signal: the model learns little more than the base rate. Its accuracy is far
        // above ½, so the coin-flip test is not the right yardstick here, but it must not beat the majority call.
        let d = 6
        let samples = synthetic(count: 3_000, seed: 2025, coefficients: [Double](repeating: 0, count: d), intercept: 1.2,
                                means: [Double](repeating: 0, count: d), sds: [Double](repeating: 1, count: d))
        let report = WalkForward.evaluate(samples, featureNames: names(d))
        #expect(!report.beatsMajority)
        #expect((report.majorityPValue ?? 0) > 0.05)
        #expect(abs((report.pooled?.auc ?? 0) - 0.5) < 0.05)
        #expect(abs((report.majorityAccuracy ?? 0) - (report.pooled?.baseRate ?? 1)) < 1e-12)
    }

    @Test func learnableSignalBeatsACoin() {
        let samples = synthetic(count: 3_000, seed: 77, coefficients: [0.9, -0.5, 0, 0], intercept: 0.1,
                                means: [0, 0, 0, 0], sds: [1, 1, 1, 1])
        let report = WalkForward.evaluate(samples, featureNames: names(4))
        #expect(report.beatsCoinFlip)
        #expect(report.beatsMajority)
        #expect((report.pooled?.auc ?? 0) > 0.65)
        #expect((report.coinFlipPValue ?? 1) < 1e-6)
        let text = report.text()
        #expect(text.contains("verdict: beats a coin flip"))
        #expect(text.split(separator: "\n").count >= 10)
    }

    // (3)
    @Test func purgeDropsExactlyTheOverlappingSamples() {
        // 10 samples one day apart; folds = 1 → blocks of 5: train candidates 0…4, test 5…9.
        let day: Int64 = 86_400
        let resolveAfter: [Int64] = [0, day, 3 * day, 2 * day, 0, 0, 0, 0, 0, 0]
        var samples: [LabelledSample] = []
        for i in 0..<10 {
            let t = Int64(i) * day
            samples.append(LabelledSample(time: t, resolvedAt: t + resolveAfter[i], features: [Double(i)], label: i % 2 == 0))
        }
        // First test time 5 days; purge 1 day → cutoff 4 days: resolvedAt ≥ 4 days is purged.
        // resolvedAt: 0, 2d, 5d, 5d, 4d → samples 2, 3, 4 are purged (4 sits exactly on the cutoff), 0 and 1 kept.
        // Input order is shuffled to check that the plan sorts by time and reports original indices.
        let permutation = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]
        let shuffled = permutation.map { samples[$0] }
        let plans = WalkForward.plan(shuffled, featureCount: 1, parameters: .init(folds: 1, purgeSeconds: day))
        #expect(plans.count == 1)
        let original = { (indices: [Int]) in indices.map { permutation[$0] } }
        #expect(original(plans[0].train) == [0, 1])
        #expect(original(plans[0].purged) == [2, 3, 4])
        #expect(original(plans[0].test) == [5, 6, 7, 8, 9])
        // One second less of purge keeps sample 4 (resolved at exactly 4 days < cutoff 4 days + 1 s).
        let shorter = WalkForward.plan(shuffled, featureCount: 1, parameters: .init(folds: 1, purgeSeconds: day - 1))
        #expect(original(shorter[0].purged) == [2, 3])
        // No purge: a sample resolved exactly at the first test time is still dropped (it is not before it).
        let none = WalkForward.plan(shuffled, featureCount: 1, parameters: .init(folds: 1, purgeSeconds: 0))
        #expect(original(none[0].purged) == [2, 3])
        #expect(original(none[0].train) == [0, 1, 4])
    }

    @Test func evaluateReportsPurgeCounts() {
        // 60 samples one hour apart, each resolving 10 hours later; folds = 1 → 30 candidates, 30 tests.
        // Cutoff = first test time (30 h) − 5 h = 25 h; resolvedAt = i + 10 h ≥ 25 h ⇔ i ≥ 15 → 15 purged.
        let hour: Int64 = 3_600
        var rng = SplitMix(seed: 1)
        var samples: [LabelledSample] = []
        for i in 0..<60 {
            let t = Int64(i) * hour
            samples.append(LabelledSample(time: t, resolvedAt: t + 10 * hour, features: [rng.normal()], label: i % 3 == 0))
        }
        let training = TrainingParameters(l2: 1, minimumSamples: 10)
        let report = WalkForward.evaluate(samples, featureNames: ["x"],
                                          parameters: .init(folds: 1, purgeSeconds: 5 * hour, training: training))
        let fold = report.folds[0]
        #expect(fold.purged == 15 && fold.trainSamples == 15 && fold.testSamples == 30)
        #expect(fold.trainFrom == 0 && fold.trainTo == 14 * hour)
        #expect(fold.testFrom == 30 * hour && fold.testTo == 59 * hour)
        #expect(fold.scores != nil)
    }

    @Test func noTestSamplePrecedesATrainingSample() {
        // Irregular times with duplicates and long, varying resolution delays, in scrambled order.
        var rng = SplitMix(seed: 31)
        var samples: [LabelledSample] = []
        for _ in 0..<1_000 {
            let t = Int64(rng.next() % 5_000) * 600
            let delay = Int64(rng.next() % 200) * 3_600
            samples.append(LabelledSample(time: t, resolvedAt: t + delay, features: [rng.normal()], label: rng.uniform() < 0.5))
        }
        for purge: Int64 in [0, 86_400, 7 * 86_400] {
            let parameters = WalkForwardParameters(folds: 7, purgeSeconds: purge)
            let plans = WalkForward.plan(samples, featureCount: 1, parameters: parameters)
            #expect(plans.count == 7)
            var seenTest = Set<Int>()
            for plan in plans {
                let firstTest = plan.test.map { samples[$0].time }.min()!
                #expect(plan.test.map { samples[$0].time } == plan.test.map { samples[$0].time }.sorted())
                for i in plan.train {
                    #expect(samples[i].time < firstTest)
                    #expect(samples[i].resolvedAt < firstTest - purge)
                }
                for i in plan.purged { #expect(samples[i].resolvedAt >= firstTest - purge) }
                // Expanding window: train ∪ purged is exactly everything before the test block.
                #expect(plan.train.count + plan.purged.count == plan.fold * 1_000 / 8)
                #expect(seenTest.isDisjoint(with: plan.test))
                seenTest.formUnion(plan.test)
            }
            // Block 0 is never tested; blocks 1…7 are.
            #expect(seenTest.count == 1_000 - 1_000 / 8)
            let report = WalkForward.evaluate(samples, featureNames: ["x"], parameters: parameters)
            for (fold, plan) in zip(report.folds, plans) {
                #expect(fold.trainSamples == plan.train.count && fold.purged == plan.purged.count)
                if fold.trainSamples > 0 { #expect(fold.trainTo < fold.testFrom) }
            }
        }
    }

    @Test func degenerateInputsGiveAnEmptyVerdict() {
        let empty = WalkForward.evaluate([], featureNames: ["x"])
        #expect(empty.pooled == nil && empty.coinFlipPValue == nil && !empty.beatsCoinFlip)
        #expect(empty.text().contains("does NOT beat"))
        // Samples with the wrong feature count are ignored, not fatal.
        let samples = synthetic(count: 50, seed: 4, coefficients: [1], intercept: 0, means: [0], sds: [1])
        let report = WalkForward.evaluate(samples, featureNames: ["x", "y"])
        #expect(report.ignoredSamples == 50 && report.samples == 0)
    }
}
