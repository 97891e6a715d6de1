/// The body of `POST /api/auth-proxy/refresh` when the credential is not in a header: the
/// rollout guide's `{"refresh_token": "…"}`.
///
/// The token in it is judged like a bearer token (a legacy JWT goes to the backend's refresh
/// path with the body as sent, a signed Better Auth session value to the auth server). Anything
/// else in the body is the backend's business; a body that does not have this shape is the
/// client's mistake and answered 400 `invalid_request`, so it never costs a backend request.
public enum RefreshRequestBody {
    /// The largest body read; a refresh request is a token and a little JSON.
    public static let maximumBytes = 16 * 1024

    /// Why a body is not a refresh request.
    public enum Problem: Error, Sendable, Equatable {
        case tooLarge
        case notJSON
        case notAnObject
        /// `refresh_token` is absent, not a string, or empty.
        case noRefreshToken
    }

    /// The `refresh_token` of `bytes`, a JSON object.
    public static func refreshToken(in bytes: [UInt8]) -> Result<String, Problem> {
        guard bytes.count <= Self.maximumBytes else { return .failure(.tooLarge) }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            return .failure(.notJSON)
        }
        guard case .object = json else { return .failure(.notAnObject) }
        guard let token = json["refresh_token"]?.stringValue, !token.isEmpty else {
            return .failure(.noRefreshToken)
        }
        return .success(token)
    }

    /// The message of the 400 answer.
    public static func message(for problem: Problem) -> String {
        switch problem {
        case .tooLarge:
            return "The refresh request body exceeds \(Self.maximumBytes) bytes."
        case .notJSON:
            return "The refresh request body is not valid JSON; send {\"refresh_token\": \"…\"}."
        case .notAnObject, .noRefreshToken:
            return "Send the token as {\"refresh_token\": \"…\"} or in Authorization: Bearer."
        }
    }
}
