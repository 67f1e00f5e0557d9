import CScorerProto
import Foundation

/// The messages of the external scorer protocol (`proto/capg/v1/scorer.proto`) as Swift
/// values, encoded and decoded with the protobuf-c code generated from that schema.
public enum ScorerMessage {
    /// Version of the protocol this capg speaks (`Hello.protocol_version`).
    public static let protocolVersion = 1
    /// Largest message accepted from a scorer; a longer length prefix is garbage.
    public static let maximumMessageBytes = 64 << 20

    public struct Hello: Equatable {
        public var protocolVersion = ScorerMessage.protocolVersion
        public var capgVersion: String
        public var rank: Int
        public var ranks: Int
        public var data: String
        public var configHash: String
    }

    /// What a scorer can answer.
    public enum Reply: Equatable {
        case hello(protocolVersion: Int, name: String)
        case rewards(batchID: UInt64, rewards: [Double])
        case failure(String)
    }

    /// `ScorerRequest{hello}`, packed. O(message).
    public static func encode(_ h: Hello) -> [UInt8] {
        let arena = CArena()
        let m = arena.allocate(Capg__V1__Hello.self, count: 1)
        capg__v1__hello__init(m)
        m.pointee.protocol_version = UInt32(h.protocolVersion)
        m.pointee.capg_version = arena.string(h.capgVersion)
        m.pointee.rank = UInt32(h.rank)
        m.pointee.ranks = UInt32(h.ranks)
        m.pointee.data = arena.string(h.data)
        m.pointee.config_hash = arena.string(h.configHash)
        var req = Capg__V1__ScorerRequest()
        capg__v1__scorer_request__init(&req)
        req.body_case = CAPG__V1__SCORER_REQUEST__BODY_HELLO
        req.hello = m
        return pack(&req)
    }

    /// `ScorerRequest{batch}` for `items`, packed. O(Σ |candidates|).
    public static func encodeBatch(id: UInt64, step: Int, rank: Int, items: [RewardRequestItem]) -> [UInt8] {
        let arena = CArena()
        let list = arena.allocate(UnsafeMutablePointer<Capg__V1__RewardItem>?.self, count: items.count)
        for (i, it) in items.enumerated() {
            let m = arena.allocate(Capg__V1__RewardItem.self, count: 1)
            capg__v1__reward_item__init(m)
            m.pointee.query_id = UInt64(it.queryID)
            m.pointee.query_key = arena.string(it.queryKey)
            m.pointee.sample = UInt32(it.sample)
            m.pointee.chosen = UInt64(it.chosen)
            let c = arena.allocate(UInt64.self, count: it.candidates.count)
            for (j, v) in it.candidates.enumerated() { c[j] = UInt64(v) }
            m.pointee.n_candidates = it.candidates.count
            m.pointee.candidates = c
            list[i] = m
        }
        let b = arena.allocate(Capg__V1__RewardBatch.self, count: 1)
        capg__v1__reward_batch__init(b)
        b.pointee.batch_id = id
        b.pointee.step = UInt64(step)
        b.pointee.rank = UInt32(rank)
        b.pointee.n_items = items.count
        b.pointee.items = list
        var req = Capg__V1__ScorerRequest()
        capg__v1__scorer_request__init(&req)
        req.body_case = CAPG__V1__SCORER_REQUEST__BODY_BATCH
        req.batch = b
        return pack(&req)
    }

    /// `ScorerRequest{goodbye}`, packed.
    public static func encodeGoodbye() -> [UInt8] {
        var g = Capg__V1__Goodbye()
        capg__v1__goodbye__init(&g)
        return withUnsafeMutablePointer(to: &g) { gp in
            var req = Capg__V1__ScorerRequest()
            capg__v1__scorer_request__init(&req)
            req.body_case = CAPG__V1__SCORER_REQUEST__BODY_GOODBYE
            req.goodbye = gp
            return pack(&req)
        }
    }

    private static func pack(_ req: inout Capg__V1__ScorerRequest) -> [UInt8] {
        let n = capg__v1__scorer_request__get_packed_size(&req)
        return [UInt8](unsafeUninitializedCapacity: max(n, 1)) { buf, count in
            count = capg__v1__scorer_request__pack(&req, buf.baseAddress!)
        }
    }

    /// Decodes a `ScorerReply`; nil when the bytes are not one (protobuf-c validates the wire
    /// format) or it carries no body.
    public static func decodeReply(_ bytes: [UInt8]) -> Reply? {
        bytes.withUnsafeBufferPointer { b -> Reply? in
            guard let r = capg__v1__scorer_reply__unpack(nil, b.count, b.baseAddress) else { return nil }
            defer { capg__v1__scorer_reply__free_unpacked(r, nil) }
            switch r.pointee.body_case {
            case CAPG__V1__SCORER_REPLY__BODY_HELLO:
                guard let h = r.pointee.hello else { return nil }
                return .hello(protocolVersion: Int(h.pointee.protocol_version),
                              name: h.pointee.name.map { String(cString: $0) } ?? "")
            case CAPG__V1__SCORER_REPLY__BODY_REWARDS:
                guard let w = r.pointee.rewards else { return nil }
                let values = w.pointee.n_rewards == 0 ? [] : Array(UnsafeBufferPointer(start: w.pointee.rewards, count: w.pointee.n_rewards))
                return .rewards(batchID: w.pointee.batch_id, rewards: values)
            case CAPG__V1__SCORER_REPLY__BODY_FAILURE:
                return .failure(r.pointee.failure?.pointee.message.map { String(cString: $0) } ?? "")
            default:
                return nil
            }
        }
    }

    /// `v` as a base-128 varint (the length prefix of every message).
    public static func varint(_ v: Int) -> [UInt8] {
        var out = [UInt8](), x = UInt64(v)
        repeat {
            let b = UInt8(x & 0x7F)
            x >>= 7
            out.append(x == 0 ? b : b | 0x80)
        } while x != 0
        return out
    }
}
