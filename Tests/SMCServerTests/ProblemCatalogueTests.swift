import Testing

@testable import SMCServer

/// The catalogue of problem codes and the spec name the same codes with the same statuses, so a client generated
/// from the spec knows every code the server can answer with, and no code exists only in prose.
@Suite struct ProblemCatalogueTests {
    @Test func catalogueAndSpecAgree() {
        let catalogue = Dictionary(uniqueKeysWithValues: ProblemCode.allCases.map { ($0.rawValue, Int($0.status.code)) })
        let onlyHere = Set(catalogue.keys).subtracting(SpecTables.problemCodes.keys).sorted()
        let onlyInSpec = Set(SpecTables.problemCodes.keys).subtracting(catalogue.keys).sorted()
        #expect(onlyHere.isEmpty, "codes the server answers with that api-spec/openapi.yaml does not name: \(onlyHere)")
        #expect(onlyInSpec.isEmpty, "codes the spec names that the server never answers with: \(onlyInSpec)")
        for (code, status) in catalogue where SpecTables.problemCodes[code] != nil {
            #expect(SpecTables.problemCodes[code] == status, "\(code): \(status) here, \(SpecTables.problemCodes[code]!) in the spec")
        }
    }

    @Test func problemsTakeStatusAndTitleFromTheirCode() {
        let p = Problem(.validationFailed, detail: "x")
        #expect(p.status == .unprocessableContent && p.code == "validation_failed" && p.title == "Validation Failed")
        #expect(Problem(.unsupportedVersion).status.code == 426)
        #expect(Problem(.badRequest, status: .unauthorized).status == .unauthorized)
        #expect(!ProblemCode.allCases.map(\.rawValue).contains("unprocessable_content"))
    }

    @Test func syncRejectionCodesAgreeWithTheSpec() {
        #expect(SyncService.Rejection.Code.allCases.map(\.rawValue).sorted() == SpecTables.syncRejectionCodes.sorted())
    }
}
