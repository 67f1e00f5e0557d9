import CAPGCore
import CAPGData
import Foundation
import XCTest

/// The OBD CSV loader on small in-repository tables (the real sample is in RealDataTests).
final class OBDLoaderTests: XCTestCase {
    static let items = """
    ,item_id,item_feature_0,item_feature_1
    0,0,-0.5,aa
    1,1,0.25,bb
    2,2,1.0,aa
    """
    static let log = """
    ,timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0,user-item_affinity_1,user-item_affinity_2
    0,2019-11-24 00:00:01,2,1,0,0.33,u1,0.0,1.0,0.0
    1,2019-11-24 00:00:02,0,2,1,0.33,u2,0.5,0.0,0.0
    2,2019-11-24 00:00:03,1,3,0,0.33,u1,0.0,0.0,2.0
    """

    /// CRLF line ends (a file saved on Windows) load exactly like LF ones; "\r\n" is one
    /// Swift Character, which used to hide every line break ("no data rows").
    func testCRLFFilesLoadLikeLF() throws {
        let lf = try OBDLoader.parse(logText: Self.log, logName: "all.csv", itemContextText: Self.items, itemContextName: "item_context.csv")
        func crlf(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n" }
        let dos = try OBDLoader.parse(logText: crlf(Self.log), logName: "all.csv",
                                      itemContextText: crlf(Self.items), itemContextName: "item_context.csv")
        XCTAssertEqual(lf.itemCount, 3)
        XCTAssertEqual(lf.clicks, [0, 1, 0])
        XCTAssertEqual(dos.itemCount, lf.itemCount)
        XCTAssertEqual(dos.itemIDs, lf.itemIDs)
        XCTAssertEqual(dos.positions, lf.positions)
        XCTAssertEqual(dos.clicks, lf.clicks)
        XCTAssertEqual(dos.affinities, lf.affinities)
        XCTAssertEqual(dos.userFeatures, lf.userFeatures)
        XCTAssertEqual(dos.itemFeatures, lf.itemFeatures)
        XCTAssertEqual(dos.userFeatureNames, lf.userFeatureNames)
    }
}
