/// What one training step reports (identical on every rank after the metric allreduce).
public struct StepMetrics: Sendable {
    public var step: Int
    public var meanReward: Double
    public var gradientNorm: Double
    public var runningBaseline: Double
    public var computeSeconds: Double
    public var allreduceSeconds: Double
    public var optimizerSeconds: Double
    /// Filled on evaluation steps.
    public var evaluation: Evaluation?
    /// Some rank received a stop signal before this step's metric allreduce: every rank
    /// sees the same value, so all stop after this step.
    public var stopRequested = false

    public struct Evaluation: Sendable, Equatable {
        public var value: Double
        public var normalizedValue: Double
        public var recall: Double
        /// NDCG@K of the ESR's ranking (tasks with graded labels only; not checkpointed).
        public var ndcg: Double? = nil

        public init(value: Double, normalizedValue: Double, recall: Double) {
            self.value = value; self.normalizedValue = normalizedValue; self.recall = recall
        }
    }
}
