// An Any-Precision seed fixture converted by the qconvert executable, for the CLI tests that run it.
import _QTestSupport
import Foundation

/// `Tests/Fixtures/seeds/anyprec/<name>` converted by `qconvert` with the fixture's mean and std (plus
/// `extra` arguments) into `folder`; the fixture JSON and the first image's record come with it.
struct ConvertedAnyPrecisionFixture {
    static let seeds = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds")
    /// The fixture JSON.
    let fixture: [String: Any]
    /// The written .lbm path.
    let model: String
    /// qconvert's exit status and output (the caller asserts on them).
    let convert: CommandResult

    init(_ name: String, in folder: URL, extra: [String] = []) throws {
        fixture = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.seeds.appendingPathComponent("anyprec/\(name).json"))) as! [String: Any]
        let input = fixture["input"] as! [String: Any]
        let csv = { (key: String) in (input[key] as! [Double]).map { String($0) }.joined(separator: ",") }
        model = folder.appendingPathComponent("\(name).lbm").path
        convert = try ProcessRunner.runProduct("qconvert", [Self.seeds.appendingPathComponent("anyprec/\(name).pth.tar").path,
                                                            "-o", model, "--mean", csv("mean"), "--std", csv("std")] + extra)
    }

    /// The first fixture image: its file path and its JSON record (logits per width).
    var firstImage: (path: String, record: [String: Any]) {
        let record = (fixture["images"] as! [[String: Any]])[0]
        return (Self.seeds.appendingPathComponent(record["path"] as! String).path, record)
    }
}
