import Testing

@testable import AuthGateCore

@Suite("RefreshRequestBody")
struct RefreshRequestBodyTests {
    private func token(_ body: String) -> Result<String, RefreshRequestBody.Problem> {
        RefreshRequestBody.refreshToken(in: Array(body.utf8))
    }

    @Test("the rollout guide's body gives its refresh_token; other members are left alone")
    func guideShape() {
        #expect(self.token(#"{"refresh_token":"eyJ.a.b"}"#) == .success("eyJ.a.b"))
        #expect(self.token(#" { "client_id": "web", "refresh_token" : "t-1" } "#) == .success("t-1"))
    }

    @Test(
        "anything else is a problem the client gets 400 for",
        arguments: [
            ("", RefreshRequestBody.Problem.notJSON),
            ("refresh_token=abc", .notJSON),
            (#"{"refresh_token":"a""#, .notJSON),
            (#"{"refresh_token":"a","refresh_token":"b"}"#, .notJSON),
            (#"["refresh_token"]"#, .notAnObject),
            (#""refresh_token""#, .notAnObject),
            ("{}", .noRefreshToken),
            (#"{"token":"abc"}"#, .noRefreshToken),
            (#"{"refresh_token":""}"#, .noRefreshToken),
            (#"{"refresh_token":42}"#, .noRefreshToken),
            (#"{"refresh_token":null}"#, .noRefreshToken),
        ]
    )
    func problems(body: String, problem: RefreshRequestBody.Problem) {
        #expect(self.token(body) == .failure(problem))
    }

    @Test("a body over the limit is refused without being parsed")
    func tooLarge() {
        let padding = String(repeating: " ", count: RefreshRequestBody.maximumBytes)
        #expect(self.token(#"{"refresh_token":"t"}"# + padding) == .failure(.tooLarge))
        #expect(RefreshRequestBody.message(for: .tooLarge).contains("16384"))
    }
}
