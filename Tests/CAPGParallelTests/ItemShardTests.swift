import XCTest
@testable import CAPGParallel

final class ItemShardTests: XCTestCase {
    func testShardsTileTheItemsAndOwnerIsConsistent() throws {
        for n in 0...23 {
            for s in 1...6 {
                let shards = try ItemShard(itemCount: n, shardCount: s, index: 0).all
                var next = 0
                for shard in shards {
                    XCTAssertEqual(shard.lo, next)
                    XCTAssertLessThanOrEqual(shard.count, n / s + 1)
                    XCTAssertGreaterThanOrEqual(shard.count, n / s)
                    for i in shard.range { XCTAssertEqual(shard.owner(of: i), shard.index, "N=\(n) S=\(s) i=\(i)") }
                    next = shard.hi
                }
                XCTAssertEqual(next, n)
            }
        }
    }

    func testInvalidShardThrows() {
        XCTAssertThrowsError(try ItemShard(itemCount: 5, shardCount: 2, index: 2))
        XCTAssertThrowsError(try ItemShard(itemCount: -1, shardCount: 1, index: 0))
        XCTAssertThrowsError(try ItemShard(itemCount: 5, shardCount: 0, index: 0))
    }
}
