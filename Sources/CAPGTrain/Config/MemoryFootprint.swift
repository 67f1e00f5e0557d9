import Foundation

/// The bytes one rank of a run will hold, computed from the configuration before anything
/// is allocated, so that a run that cannot fit fails at start with the estimate and what to
/// change, instead of trapping in an allocation (or being killed by the OOM killer) later.
///
/// Model (synthetic and OBD two-tower; P ranks, S item shards, Q = P/S query groups, local
/// batch b = B/Q, chunk c = b (item-sharded: query_chunk, or ≤ 256 MiB of chunk buffers), N_s = ⌈N/S⌉ items per shard, T threads):
///
///     parameters + gradient + optimizer state   4·(2 + o)·(d·dx + N_s·(d + 1))     o = 2 (Adam), 0 (SGD)
///     environment (item latents and biases)     4·N_s·(dx + 1)
///     scores and ∂J/∂s of a chunk                8·c·N_s (24·c·N_s item-sharded: + Double rows) + 4·c·(dx + d)
///     per-thread widened rows                   8·2·N_s·T
///     evaluation chunk (64 queries) and rows    4·64·N_s + 8·N_s (item-sharded: 12·e·N_s, e ≤ 64 queries
///                                               whose buffers stay within 256 MiB)
///
/// LETOR models are small (F·H weights) and their data size is known only once the files
/// are read, so only the model terms are counted there. Every product is overflow-checked:
/// sizes whose byte count does not fit in 63 bits are an error.
public struct MemoryFootprint: CustomStringConvertible {
    public var terms: [(name: String, bytes: Int)] = []
    public var total: Int { terms.reduce(0) { $0 + $1.bytes } }

    /// Thrown when a size product overflows.
    struct Overflow: Error {}

    static func mul(_ xs: Int...) throws -> Int {
        var p = 1
        for x in xs {
            let (r, o) = p.multipliedReportingOverflow(by: x)
            if o || x < 0 { throw Overflow() }
            p = r
        }
        return p
    }

    static func add(_ xs: Int...) throws -> Int {
        var s = 0
        for x in xs {
            let (r, o) = s.addingReportingOverflow(x)
            if o { throw Overflow() }
            s = r
        }
        return s
    }

    /// The footprint of one rank of `config` on `ranks` ranks with `threads` worker threads.
    public init(config c: TrainingConfig, ranks: Int, threads: Int) throws {
        do {
            let shards = max(1, c.itemShards), groups = max(1, ranks / shards)
            let local = (c.batchSize + groups - 1) / groups
            // The item-sharded trainer's own chunk rule, so the estimate is what it will allocate.
            let chunk = shards > 1
                ? min(local, ShardedTrainer.queryChunk(config: c, shardItems: (c.items + shards - 1) / shards, localQueries: local))
                : local
            let optimizerCopies = c.optimizer == .adam ? 2 : c.optimizer == .adagrad ? 1 : 0
            switch c.data {
            case .synthetic, .obd, .paper:
                let ns = (c.items + shards - 1) / shards
                let params = try Self.add(Self.mul(c.dim, c.contextDim), Self.mul(ns, try Self.add(c.dim, 1)))
                terms.append(("parameters, gradient and optimizer state", try Self.mul(4, 2 + optimizerCopies, params)))
                terms.append(("environment item latents", try Self.mul(4, ns, try Self.add(c.contextDim, 1))))
                // Float scores and ∂J/∂s; item-sharded chunks also hold Double rows of both.
                terms.append(("scores and score gradients of a batch chunk",
                              try Self.add(Self.mul(shards > 1 ? 24 : 8, chunk, ns), Self.mul(4, chunk, try Self.add(c.contextDim, c.dim)))))
                terms.append(("per-thread estimator rows", try Self.mul(16, ns, max(1, threads))))
                terms.append(("evaluation chunk", shards > 1
                    ? try Self.mul(12, ShardedTrainer.evaluationChunk(shardItems: ns), ns)
                    : try Self.add(Self.mul(4, 64, ns), Self.mul(8, ns))))
            case .letor:
                let weights = c.hidden > 0 ? try Self.add(Self.mul(c.hidden, c.features), Self.mul(2, c.hidden), 1)
                                           : try Self.add(c.features, 1)
                terms.append(("parameters, gradient and optimizer state", try Self.mul(4, 2 + optimizerCopies, weights)))
            }
        } catch is Overflow {
            throw ConfigError.invalid("the sizes (items \(c.items), dim \(c.dim), context_dim \(c.contextDim), batch_size \(c.batchSize), features \(c.features), hidden \(c.hidden)) overflow 64-bit byte counts; they cannot be right")
        }
    }

    /// Bytes this process may use: the smallest of physical memory, a cgroup v2 limit and
    /// RLIMIT_AS, shared by the ranks on this node.
    public static func available(ranksOnNode: Int) -> Int {
        var limit = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let v = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), v > 0 {
            limit = min(limit, v)
        }
        var rl = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &rl) == 0, rl.rlim_cur < UInt64(Int.max) {
            limit = min(limit, Int(rl.rlim_cur))
        }
        return limit / max(1, ranksOnNode)
    }

    public var description: String {
        terms.map { String(format: "%@ %.2f GB", $0.name, Double($0.bytes) / 1e9) }.joined(separator: ", ")
    }

    /// Throws when the footprint exceeds `available` bytes, with the estimate and what to change.
    public func check(available: Int, config c: TrainingConfig, ranks: Int) throws {
        guard total > available else { return }
        let perItem = c.data == .letor ? "" : String(format: " (≈ %.0f bytes per item per shard)", Double(total) / Double(max(1, (c.items + c.itemShards - 1) / max(1, c.itemShards))))
        throw ConfigError.invalid(String(format: "this run needs an estimated %.2f GB per rank%@ but a rank can use %.2f GB here (%d rank(s) on this node): %@. Lower items, dim or batch_size, set query_chunk, or shard the item table over more ranks with --item-shards (P = query groups × item shards)",
                                         Double(total) / 1e9, perItem, Double(available) / 1e9, Launch.localRanks, description))
    }
}
