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

    public struct Evaluation: Sendable {
        public var value: Double
        public var normalizedValue: Double
        public var recall: Double
    }
}
