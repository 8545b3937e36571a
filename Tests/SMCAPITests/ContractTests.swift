import Foundation
import OpenAPIRuntime
import Testing

@testable import SMCAPI

@Suite("REST contract")
struct ContractTests {
    static let specPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("api-spec/openapi.yaml").path

    @Test("the spec is OpenAPI 3.1 and its version is the one the code reports")
    func specVersion() throws {
        let spec = try String(contentsOfFile: Self.specPath, encoding: .utf8)
        #expect(spec.hasPrefix("openapi: 3.1."))
        let versionLine = spec.split(separator: "\n").first { $0.hasPrefix("  version: ") }
        #expect(versionLine.map { String($0.dropFirst("  version: ".count)) } == SMCAPIInfo.specVersion)
    }

    @Test("a problem document decodes into the generated type, keeping its code and field errors")
    func problemDecodes() throws {
        let json = #"""
            {"type":"https://smc.dev/problems/validation_failed","title":"Validation Failed","status":422,
             "code":"validation_failed","errors":[{"field":"/email","message":"is not an email address"}],"limit":3}
            """#
        let problem = try JSONDecoder().decode(Components.Schemas.Problem.self, from: Data(json.utf8))
        #expect(problem.code == "validation_failed" && problem.status == 422)
        #expect(problem.errors?.first?.field == "/email")
    }
}
