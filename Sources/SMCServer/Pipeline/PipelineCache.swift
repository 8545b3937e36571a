import Foundation
import SMCEngine
import Synchronization

/// Decoded pipeline states kept between jobs in this process, checked against the row versions before use (another
/// process may have moved a stream on since).
final class PipelineCache: Sendable {
    private struct TenantKey: Hashable {
        var tenant: UUID
        var symbol: String
        var timeframe: String
    }

    private let analyzers = Mutex<[Pipeline.AnalysisKey: (version: Int64, value: MarketAnalyzer)]>([:])
    private let evaluators = Mutex<[TenantKey: (version: Int64, value: TenantEvaluator)]>([:])

    init() {}

    func analyzer(_ key: Pipeline.AnalysisKey, version: Int64) -> MarketAnalyzer? {
        analyzers.withLock { $0[key].flatMap { $0.version == version ? $0.value : nil } }
    }

    func store(_ key: Pipeline.AnalysisKey, analyzer: MarketAnalyzer, version: Int64) {
        analyzers.withLock { $0[key] = (version, analyzer) }
    }

    func evaluator(_ tenant: UUID, symbol: String, timeframe: String, version: Int64) -> TenantEvaluator? {
        evaluators.withLock {
            $0[TenantKey(tenant: tenant, symbol: symbol, timeframe: timeframe)].flatMap { $0.version == version ? $0.value : nil }
        }
    }

    func store(_ tenant: UUID, symbol: String, timeframe: String, evaluator: TenantEvaluator, version: Int64) {
        evaluators.withLock { $0[TenantKey(tenant: tenant, symbol: symbol, timeframe: timeframe)] = (version, evaluator) }
    }
}
