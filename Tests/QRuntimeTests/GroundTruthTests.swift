// ImageNet-style ground-truth and synset files (qinfer --labels / --synsets).
import Foundation
@testable import QRuntime
import XCTest

final class GroundTruthTests: XCTestCase {
    private let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-gt-\(getpid())")

    override func setUpWithError() throws { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    private func file(_ name: String, _ text: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testIndexSynsetAndNameLabels() throws {
        let synsets = try GroundTruth.synsets(contentsOf: file("syn.txt", "n01440764 tench, Tinca tinca\nn01443537 goldfish\n\nn01484850 great white shark\n"))
        XCTAssertEqual(synsets, ["n01440764", "n01443537", "n01484850"])
        let labels = ["tench", "goldfish", "shark"]
        // Kaggle LOC_val_solution.csv style: header, synset first word of the second field, names without extension.
        let kaggle = try GroundTruth(contentsOf: file("sol.csv", "ImageId,PredictionString\nval_1,n01484850 48 1 375 500\nval_2,n01440764 1 2 3 4\n"),
                                     classLabels: labels, synsets: synsets)
        XCTAssertEqual(kaggle.label(for: URL(fileURLWithPath: "/x/val_1.JPEG")), 2)
        XCTAssertEqual(kaggle.label(for: URL(fileURLWithPath: "val_2.png")), 0)
        XCTAssertNil(kaggle.label(for: URL(fileURLWithPath: "val_3.JPEG")))
        // Caffe val.txt style: file name and 0-based index; class names also accepted.
        let caffe = try GroundTruth(contentsOf: file("val.txt", "# comment\na.JPEG 1\nb.png   Shark\n"), classLabels: labels)
        XCTAssertEqual(caffe.label(for: URL(fileURLWithPath: "a.JPEG")), 1)
        XCTAssertEqual(caffe.label(for: URL(fileURLWithPath: "b.png")), 2)
        // Model labels that start with synset IDs resolve synsets without a list.
        let synLabels = try GroundTruth(contentsOf: file("s.txt", "c.jpg n01443537\n"),
                                        classLabels: ["n01440764 tench", "n01443537 goldfish"])
        XCTAssertEqual(synLabels.label(for: URL(fileURLWithPath: "c.jpg")), 1)
    }

    func testBadFilesSayWhere() throws {
        XCTAssertThrowsError(try GroundTruth(contentsOf: file("bad.txt", "a.jpg 0\nb.jpg 7\n"), classLabels: ["x", "y"])) {
            XCTAssertTrue("\($0)".contains("bad.txt:2: class index 7 is outside 0..<2"), "\($0)")
        }
        XCTAssertThrowsError(try GroundTruth(contentsOf: file("bad2.txt", "a.jpg 0\nb.jpg n0000\n"), classLabels: ["x"])) {
            XCTAssertTrue("\($0)".contains("bad2.txt:2: label 'n0000' is neither"), "\($0)")
        }
        XCTAssertThrowsError(try GroundTruth(contentsOf: file("bad3.txt", "a.jpg 0\nlonely\n"), classLabels: ["x"])) {
            XCTAssertTrue("\($0)".contains("bad3.txt:2: expected 'NAME LABEL'"), "\($0)")
        }
        XCTAssertThrowsError(try GroundTruth(contentsOf: file("empty.txt", "\n"), classLabels: ["x"]))
        XCTAssertThrowsError(try GroundTruth(contentsOf: folder.appendingPathComponent("missing.txt"), classLabels: ["x"]))
    }
}
