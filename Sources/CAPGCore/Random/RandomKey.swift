/// What a stream of random numbers is *for*. Each purpose is a disjoint stream, so
/// e.g. adding a reward draw never shifts the candidate-sampling noise.
public enum RandomPurpose: UInt32, Sendable, CaseIterable {
    case parameterInit = 1
    case context = 2
    case candidateSampling = 3
    case lateStageChoice = 4
    case reward = 5
    case lateStageNoise = 6
    case environment = 7
    case evaluationContext = 8
    case evaluationSampling = 9
    case variance = 10
    case bootstrap = 11
}

/// The coordinates of one random stream: `(seed, purpose, step, query id, sample index)`.
///
/// Mapping onto Philox: key = (low, high) 32 bits of `seed`; counter =
/// `(block index, purpose << 24 | sample, query id, step)`. So a stream holds 2^32 blocks
/// (2^34 words), `sample` must be below 2^24, query ids and steps below 2^32.
public struct RandomKey: Hashable, Sendable {
    public var seed: UInt64
    public var purpose: RandomPurpose
    public var step: UInt32
    public var query: UInt32
    public var sample: UInt32

    public init(seed: UInt64, purpose: RandomPurpose, step: Int = 0, query: Int = 0, sample: Int = 0) {
        precondition(sample >= 0 && sample < (1 << 24), "sample index \(sample) outside [0, 2^24)")
        precondition(query >= 0 && query <= Int(UInt32.max), "query id \(query) outside [0, 2^32)")
        precondition(step >= 0 && step <= Int(UInt32.max), "step \(step) outside [0, 2^32)")
        self.seed = seed
        self.purpose = purpose
        self.step = UInt32(step)
        self.query = UInt32(query)
        self.sample = UInt32(sample)
    }

    @inlinable var philoxKey: SIMD2<UInt32> {
        SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
    }

    @inlinable func counter(block: UInt32) -> SIMD4<UInt32> {
        SIMD4(block, purpose.rawValue << 24 | sample, query, step)
    }
}
