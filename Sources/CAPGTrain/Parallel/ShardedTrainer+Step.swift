import CAPGCore
import CAPGParallel
import Foundation

/// One chunk of the group's queries after the forward phase: contexts X (c×dx), the query
/// tower's output U (c×d) and the shard's scores, as Float (for the backward GEMMs) and as
/// Double rows (what the estimators read).
struct ShardedChunk {
    var ids: [Int]
    var queries: [SyntheticQuery]
    var contexts: [Float]
    var user: [Float]
    var rows: [[Double]]
    var count: Int { ids.count }
}

/// The rollouts of a chunk: per query, per sample, the merged candidates (with raw scores)
/// and the completed rollout (LSR pick and reward), identical on every rank of the group.
struct ShardedRollouts {
    var samples: [[CandidateSample]]
    var rollouts: [[Rollout]]
}

extension ShardedTrainer {
    /// Query ids of query group q's share of the global batch at `step`: the synthetic task's
    /// rule with the Q groups in the role of ranks, so the union is the same global batch.
    func groupBatch(step: Int) -> [Int] {
        let b = config.batchSize, per = b / grid.queryGroups
        return (grid.group * per..<(grid.group + 1) * per).map { (step * b + $0) % config.queries }
    }

    public func trainStep() throws -> StepMetrics {
        let t0 = Date()
        lastStepCommBytes = 0
        let ids = groupBatch(step: step)
        let chunk = Self.queryChunk(config: config, shardItems: shard.count, localQueries: ids.count)
        // The buffers are lent to this step and handed back when it succeeds (a step that
        // throws ends the run; the next one, if any, would start from fresh buffers).
        var buffers = ShardedStepBuffers()
        swap(&buffers, &stepBuffers)
        ShardedStepBuffers.zero(&buffers.gradient, count: parameters.count)
        var rewardSum = 0.0, sampleCount = 0.0
        var start = 0
        while start < ids.count {
            var c = forward(Array(ids[start..<min(start + chunk, ids.count)]), evaluation: false, buffers: &buffers)
            let drawn = try rollouts(c)
            try estimate(c, drawn, buffers: &buffers)
            backward(c, scoreGradient: buffers.scoreGradient, into: &buffers.gradient)
            for rs in drawn.rollouts { for r in rs { rewardSum += r.reward; sampleCount += 1 } }
            buffers.recycle(&c)
            start += chunk
        }
        let t1 = Date()
        let norm2 = reduce(&buffers.gradient)
        // Metric sums: the rollouts are replicated inside a group, so shard 0 alone counts them.
        let counts = grid.shard == 0
        var sums = [counts ? rewardSum : 0, counts ? sampleCount : 0, localStopRequest() ? 1 : 0, norm2]
        allreduceSum(&sums, grid.world)
        let t2 = Date()
        optimizer.ascend(parameters: &parameters, gradient: buffers.gradient)
        stepBuffers = buffers
        let mean = sums[0] / max(sums[1], 1)
        runningBaseline = step == 0 ? mean : config.baselineDecay * runningBaseline + (1 - config.baselineDecay) * mean
        let t3 = Date()
        var metrics = StepMetrics(step: step, meanReward: mean, gradientNorm: sums[3].squareRoot(),
                                  runningBaseline: runningBaseline, computeSeconds: t1.timeIntervalSince(t0),
                                  allreduceSeconds: t2.timeIntervalSince(t1), optimizerSeconds: t3.timeIntervalSince(t2),
                                  evaluation: nil)
        metrics.stopRequested = sums[2] > 0
        if !sums[3].isFinite { throw TrainingError.nonFiniteParameters(step: step) }
        step += 1
        if config.checkEvery > 0 && (step % config.checkEvery == 0 || step == config.steps) { try checkReplicas() }
        if step % config.evalEvery == 0 || step == config.steps { metrics.evaluation = evaluate() }
        return metrics
    }

    /// Queries per chunk: `query_chunk` if set, else as many as keep the chunk's score
    /// buffers (Float scores and ∂J/∂s, Double rows and gradient rows: 24 bytes per (query,
    /// item)) within 256 MiB, at least 1 and at most the local batch.
    static func queryChunk(config: TrainingConfig, shardItems: Int, localQueries: Int) -> Int {
        if config.queryChunk > 0 { return config.queryChunk }
        return queriesWithinBudget(bytesPerQueryAndItem: 24, shardItems: shardItems, limit: localQueries)
    }

    /// The chunk rule training and evaluation share: as many queries as keep a chunk's
    /// buffers (`bytesPerQueryAndItem` per query and local item) within 256 MiB, at least 1
    /// and at most `limit`. O(1).
    static func queriesWithinBudget(bytesPerQueryAndItem: Int, shardItems: Int, limit: Int) -> Int {
        max(1, min(limit, (256 << 20) / max(1, bytesPerQueryAndItem * shardItems)))
    }

    /// **Forward.** `U = X Wᵀ`, `S_s = U E_sᵀ + b_s` for a chunk (two GEMMs) into
    /// `buffers.scores`, rows widened to Double once into rows taken from `buffers` (give them
    /// back with `buffers.recycle`). O(c·(dx·d + n_s·d)).
    func forward(_ ids: [Int], evaluation: Bool, buffers: inout ShardedStepBuffers) -> ShardedChunk {
        let c = ids.count, ns = shard.count, d = config.dim, dx = config.contextDim
        let queries = ids.map { environment.query(id: $0, evaluation: evaluation) }
        var x = [Float](repeating: 0, count: c * dx), u = [Float](repeating: 0, count: c * d)
        for (r, q) in queries.enumerated() { for j in 0..<dx { x[r * dx + j] = Float(q.context[j]) } }
        ShardedStepBuffers.reserve(&buffers.scores, count: c * ns)
        parameters.withUnsafeBufferPointer { p in
            x.withUnsafeBufferPointer { xb in
                u.withUnsafeMutableBufferPointer { ub in
                    buffers.scores.withUnsafeMutableBufferPointer { sb in
                        esr.forward(parameters: p, contexts: xb, batch: c, user: ub, scores: sb)
                    }
                }
            }
        }
        var rows: [[Double]] = []
        rows.reserveCapacity(c)
        buffers.scores.withUnsafeBufferPointer { sb in
            for r in 0..<c {
                var row = buffers.takeRow(ns)
                row.withUnsafeMutableBufferPointer { out in
                    for j in 0..<ns { out[j] = Double(sb[r * ns + j]) }
                }
                rows.append(row)
            }
        }
        return ShardedChunk(ids: ids, queries: queries, contexts: x, user: u, rows: rows)
    }

    /// **Rollouts.** A local Gumbel-top-K per (query, sample) with the rollout's own noise
    /// stream (item i's noise is the stream's i-th draw, as in the single-process sampler),
    /// one all-gather of 3K doubles per (query, sample) inside the item group, the exact
    /// merge, then the LSR pick and the reward (`RolloutSampler.finish`).
    func rollouts(_ c: ShardedChunk) throws -> ShardedRollouts {
        let k = config.k, m = config.samples, width = ShardCandidate.packedWidth * k
        var payload = [Double]()
        payload.reserveCapacity(c.count * m * width)
        for qi in 0..<c.count {
            for s in 0..<m {
                var stream = RolloutSampler.candidateStream(seed: config.seed, step: step, queryID: c.ids[qi], sample: s)
                payload += ShardCandidate.pack(try ShardedGumbelTopK.localTopK(scores: c.rows[qi], shard: shard, k: k, stream: &stream), k: k)
            }
        }
        let gathered = allgather(payload, grid.items)
        var samples = [[CandidateSample]](), drawn = [[Rollout]]()
        for qi in 0..<c.count {
            var qs = [CandidateSample](), qr = [Rollout]()
            for s in 0..<m {
                let sample = try mergeGathered(gathered, contribution: payload.count, offset: (qi * m + s) * width, k: k)
                qs.append(sample)
                qr.append(estimator.sampler.finish(candidates: sample.items, kthKey: sample.kthKey, query: c.queries[qi],
                                                   seed: config.seed, step: step, queryID: c.ids[qi], sample: s))
            }
            samples.append(qs); drawn.append(qr)
        }
        return ShardedRollouts(samples: samples, rollouts: drawn)
    }

    /// **Estimate.** `∂J/∂s` for the shard's items of every query of the chunk into
    /// `buffers.scoreGradient` (c × n_s floats, the scale 1/B of the global batch included),
    /// with the estimator's sums over all N items reduced inside the item group, batched over
    /// the chunk.
    func estimate(_ c: ShardedChunk, _ d: ShardedRollouts, buffers: inout ShardedStepBuffers) throws {
        let ns = shard.count, m = config.samples
        let perSample = 1 / Double(config.batchSize) / Double(m)
        // Double rows per query (empty: no gradient), zeros from the buffers' spares.
        var g = [[Double]](repeating: [], count: c.count)
        func row(_ qi: Int) -> Int { if g[qi].isEmpty { g[qi] = buffers.takeGradientRow(ns) }; return qi }
        switch estimator.kind {
        case .vpg, .topk:
            // (query, sample, weight) with a nonzero weight; the tail partition excludes σ.
            var entries: [(qi: Int, s: Int, weight: Double)] = []
            for qi in 0..<c.count {
                let rs = d.rollouts[qi], total = rs.reduce(0) { $0 + $1.reward }
                for (s, r) in rs.enumerated() {
                    var w = r.reward
                    if estimator.kind == .vpg {
                        switch estimator.baseline {
                        case .none: break
                        case .mean: w -= runningBaseline
                        case .loo: w -= rs.count > 1 ? (total - r.reward) / Double(rs.count - 1) : 0
                        }
                    }
                    if w != 0 { entries.append((qi, s, w)) }
                }
            }
            if entries.isEmpty { break }
            var maxima = try entries.map {
                try ShardedLogSumExp.localMax(scores: c.rows[$0.qi], shard: shard, excluding: d.samples[$0.qi][$0.s].items)
            }
            allreduceMax(&maxima, grid.items)
            var sums = try entries.enumerated().map { (e, x) in
                try ShardedLogSumExp.localSum(scores: c.rows[x.qi], shard: shard, excluding: d.samples[x.qi][x.s].items,
                                              shift: maxima[e])
            }
            allreduceSum(&sums, grid.items)
            for (e, x) in entries.enumerated() {
                let sample = d.samples[x.qi][x.s], partition = LogPartition(restMax: maxima[e], restSum: sums[e])
                let qi = row(x.qi)
                if estimator.kind == .vpg {
                    try ShardedPlackettLuce.accumulateShardGradient(
                        prefix: sample.items, prefixScores: sample.scores, logRest: partition.logRest, scores: c.rows[qi],
                        shard: shard, scale: perSample * x.weight, into: &g[qi])
                } else {
                    try ShardedTopKCorrection.accumulateShardGradient(
                        chosen: d.rollouts[qi][x.s].chosen, partition: partition, excluded: sample.items,
                        excludedScores: sample.scores, k: config.k, scores: c.rows[qi], shard: shard,
                        scale: perSample * x.weight, into: &g[qi])
                }
            }
        case .distill:
            for qi in 0..<c.count {
                for sample in d.samples[qi] {
                    let target = estimator.sampler.lsr.probabilities(candidates: sample.items, query: c.queries[qi])
                    try ShardedDistillation.accumulateShardGradient(
                        candidates: sample.items, candidateScores: sample.scores, target: target, shard: shard,
                        scale: perSample, into: &g[row(qi)])
                }
            }
        case .capg:
            try estimateThreshold(c, d, perSample: perSample, buffers: &buffers, into: &g)
        case .vpgSwr, .top1:
            // `TrainingConfig.validate` refuses these with item_shards > 1; reaching here is a bug.
            throw ConfigError.invalid("estimator \(estimator.kind.rawValue) is not implemented with item_shards > 1; use item_shards 1")
        }
        // Rounded to Float into the chunk's ∂J/∂s; each Double row is zeroed in the same pass
        // and given back, so the spares stay zero.
        ShardedStepBuffers.reserve(&buffers.scoreGradient, count: c.count * ns)
        var bad: Int? = nil
        buffers.scoreGradient.withUnsafeMutableBufferPointer { out in
            for qi in 0..<c.count {
                let dst = UnsafeMutableBufferPointer(rebasing: out[(qi * ns)..<((qi + 1) * ns)])
                if g[qi].isEmpty { dst.update(repeating: 0); continue }
                var check: Float = 0
                g[qi].withUnsafeMutableBufferPointer { src in
                    for j in 0..<ns {
                        let v = Float(src[j])
                        src[j] = 0
                        dst[j] = v
                        check += v * 0  // NaN once any v is NaN or ±∞
                    }
                }
                if !(check == 0) && bad == nil { bad = qi }
            }
        }
        for qi in 0..<c.count where !g[qi].isEmpty {
            buffers.giveBack(gradientRow: g[qi])
            g[qi] = []
        }
        if let qi = bad { throw TrainingError.nonFiniteGradient(rank: grid.world.rank, step: step, query: c.ids[qi]) }
    }

    /// CA-PG with the threshold inclusion model: per active query (a rollout with a nonzero
    /// reward) the global max and Σ e^{s − max} (one max-reduce and one sum-reduce of c
    /// doubles), the Newton rounds of `ThresholdDriver` (5 doubles per query per round), the
    /// ψ rescue where needed, then each shard's gradient entries. The solve starts from the
    /// first rollout's K-th arrival time, as the single-process estimator does.
    ///
    /// Local work per query: one vectorized exp per item to build the shard's hot/cold split
    /// (`ThresholdShardRow`, whose weight sum is the sum-reduce's term), O(#hot) exps per
    /// Newton round, one more vectorized exp per item for the gradient — as the
    /// single-process `ThresholdInclusion.fastGradients`, rather than 2–3 libm exps per item
    /// per round.
    private func estimateThreshold(_ c: ShardedChunk, _ d: ShardedRollouts, perSample: Double,
                                   buffers: inout ShardedStepBuffers, into g: inout [[Double]]) throws {
        let active = (0..<c.count).filter { qi in d.rollouts[qi].contains { $0.reward != 0 } }
        if active.isEmpty { return }
        let rows = active.map { c.rows[$0] }
        var shifts = try ShardedLogSumExp.localMaxima(rows: rows, shard: shard)
        allreduceMax(&shifts, grid.items)
        let hints: [Double?] = active.enumerated().map { (i, qi) in d.rollouts[qi].first?.kthPerturbedScore.map { shifts[i] - $0 } }
        var local = try rows.indices.map {
            try ShardedThresholdInclusion.prepareRow(scores: rows[$0], shard: shard, shift: shifts[$0], k: config.k,
                                                     logHint: hints[$0], workspace: &buffers.threshold)
        }
        var sums = local.map(\.localSumWeights)
        allreduceSum(&sums, grid.items)
        var driver = ThresholdDriver(k: config.k, itemCount: config.items, logSumWeights: sums.map { Foundation.log($0) },
                                     logHints: hints)
        while !driver.isFinished {
            var payload = try ShardedThresholdInclusion.localMomentsPayload(rows: &local, scores: rows, shard: shard,
                                                                            points: driver.evaluationPoints,
                                                                            workspace: &buffers.threshold)
            allreduceSum(&payload, grid.items)
            try driver.step(ThresholdMoments.unpack(payload))
        }
        let solutions = driver.solutions.map { $0! }
        // ψ rescue (only where every ψ underflowed): one max and one sum over the shards.
        let rescue = solutions.indices.filter { solutions[$0].needsPsiRescue }
        var psi = [PsiNormalization?](repeating: nil, count: solutions.count)
        if !rescue.isEmpty {
            var logMax = try rescue.map {
                try ShardedThresholdInclusion.localLogPsiMax(scores: rows[$0], shard: shard, shift: shifts[$0], logT: solutions[$0].logT)
            }
            allreduceMax(&logMax, grid.items)
            var psiSums = try rescue.enumerated().map { (e, i) in
                try ShardedThresholdInclusion.localPsiSum(scores: rows[i], shard: shard, shift: shifts[i],
                                                          logT: solutions[i].logT, logShift: logMax[e])
            }
            allreduceSum(&psiSums, grid.items)
            for (e, i) in rescue.enumerated() { psi[i] = PsiNormalization(logShift: logMax[e], sum: psiSums[e]) }
        }
        for (i, qi) in active.enumerated() {
            let chosen = d.rollouts[qi].enumerated().filter { $0.element.reward != 0 }.map { (s, r) in
                (item: r.chosen, score: d.samples[qi][s].scores[r.chosenPosition], scale: perSample * r.reward)
            }
            if g[qi].isEmpty { g[qi] = buffers.takeGradientRow(shard.count) }
            try ShardedThresholdInclusion.accumulateShardGradient(
                chosen: chosen, scores: rows[i], row: local[i], shard: shard, solution: solutions[i], psi: psi[i],
                workspace: &buffers.threshold, into: &g[qi])
        }
    }

    /// **Backward.** Adds `∂b_s = Σ_rows G`, `∂E_s = Gᵀ U` and this shard's part of
    /// `∂W = (G E_s)ᵀ X` to `gradient` (`[W | E_s | b_s]`); G is the first c × n_s entries
    /// of `g`. O(c·n_s·d).
    func backward(_ c: ShardedChunk, scoreGradient g: [Float], into gradient: inout [Float]) {
        guard c.count > 0 else { return }
        var scratch = [Float](repeating: 0, count: c.count * config.dim)
        parameters.withUnsafeBufferPointer { p in
            c.contexts.withUnsafeBufferPointer { x in
                c.user.withUnsafeBufferPointer { u in
                    g.withUnsafeBufferPointer { gb in
                        gradient.withUnsafeMutableBufferPointer { out in
                            scratch.withUnsafeMutableBufferPointer { sc in
                                esr.backward(parameters: p, contexts: x, user: u, scoreGradient: gb, batch: c.count,
                                             gradient: out, scratch: sc)
                            }
                        }
                    }
                }
            }
        }
    }

    /// **Reduce.** ∂W (partial per shard and per group) summed over all P ranks; the shard's
    /// ∂E_s, ∂b_s summed over its Q replicas (never an N×d reduction). Returns this rank's
    /// share of ‖∇θ‖² (world rank 0 counts ∂W, query group 0 counts its shard's rows), which
    /// the metric allreduce completes.
    func reduce(_ gradient: inout [Float]) -> Double {
        var gW = Array(gradient[0..<wCount])
        if grid.queryGroups > 1 { allreduceSum(&gradient, grid.replicas) }
        allreduceSum(&gW, grid.world)
        for i in 0..<wCount { gradient[i] = gW[i] }
        var norm2 = 0.0
        if grid.world.rank == 0 { norm2 += gW.withUnsafeBufferPointer { StableMath.sumOfSquares($0) } }
        if grid.group == 0 {
            norm2 += gradient.withUnsafeBufferPointer { StableMath.sumOfSquares(UnsafeBufferPointer(rebasing: $0[wCount...])) }
        }
        return norm2
    }

    /// The merged global top-K of the entry at `offset` of an all-gathered candidate payload
    /// (`contribution` doubles per shard, `3K` per entry).
    func mergeGathered(_ all: [Double], contribution: Int, offset: Int, k: Int) throws -> CandidateSample {
        let width = ShardCandidate.packedWidth * k
        let lists = try (0..<grid.itemShards).map { r in
            try ShardCandidate.unpack(Array(all[(r * contribution + offset)..<(r * contribution + offset + width)]))
        }
        return ShardedGumbelTopK.merge(lists, k: k)
    }

    // Collectives that also count this rank's contribution in `lastStepCommBytes`.
    func allreduceSum(_ b: inout [Float], _ comm: any Communicator) {
        if comm.size > 1 { lastStepCommBytes += 4 * b.count; comm.allreduceSum(&b) }
    }
    func allreduceSum(_ b: inout [Double], _ comm: any Communicator) {
        if comm.size > 1 { lastStepCommBytes += 8 * b.count; comm.allreduceSum(&b) }
    }
    func allreduceMax(_ b: inout [Double], _ comm: any Communicator) {
        if comm.size > 1 { lastStepCommBytes += 8 * b.count; comm.allreduceMax(&b) }
    }
    func allgather(_ b: [Double], _ comm: any Communicator) -> [Double] {
        if comm.size > 1 { lastStepCommBytes += 8 * b.count }
        return comm.allgather(b)
    }
}
