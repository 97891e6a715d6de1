import ArgumentParser
import AuthGateCore
import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Credential tools for operators.",
        subcommands: [Inspect.self]
    )

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a credential is and why the gateway accepts or rejects it.",
            discussion: """
                Prints the kind, the header and claims of a JWT (or the parts of a Better Auth \
                session value), then the signature verdict and the claims verdict separately, \
                checked with the keys of --config (secrets are never printed). Exit status 0 \
                if the credential is valid, 1 if not. Session values are checked for their \
                HMAC only: whether the session still exists is the resolver's business.
                """
        )

        @Option(help: "gateway.conf whose keys to check against (environment overrides apply).")
        var config: String?

        @Argument(help: "The token, cookie value or `-` to read it from standard input.")
        var token: String

        func run() throws {
            var token = self.token
            if token == "-" {
                token = readLine(strippingNewline: true) ?? ""
            }
            token = String(token.trimmingASCIISpaces())
            if token.lowercased().hasPrefix("bearer ") { token = String(token.dropFirst(7).trimmingASCIISpaces()) }

            var settings: AuthSettings? = nil
            if let path = self.config {
                do {
                    let config = try ConfigLoader.load(path: path, environment: processEnvironment())
                    settings = try ConfigSnapshot(config: config, generation: 1).auth
                } catch {
                    printError("\(error)")
                    throw ExitCode(2)
                }
            }
            let valid: Bool
            switch TokenShape(classifying: token) {
            case .jwt:
                valid = Self.inspectJWT(token, settings: settings)
            case .signedSession, .rawOpaque:
                valid = Self.inspectSession(token, settings: settings)
            }
            if !valid { throw ExitCode(1) }
        }

        static func inspectJWT(_ token: String, settings: AuthSettings?) -> Bool {
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            print("kind: JWT (\(token.utf8.count) bytes)")
            guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]),
                let claimBytes = Base64URL.decode(parts[1]),
                let header = try? JSONParser.parse(headerBytes), let claims = try? JSONParser.parse(claimBytes)
            else {
                print("verdict: invalid (malformed_token: not three base64url segments of JSON)")
                return false
            }
            print("header: \(header.jsonString)")
            print("claims: \(claims.jsonString)")
            let now = Int64(time(nil))
            for (name, label) in [("iat", "issued"), ("nbf", "not before"), ("exp", "expires")] {
                if let value = claims[name]?.int64Value {
                    print("  \(label): \(value) (\(value - now >= 0 ? "in \(value - now) s" : "\(now - value) s ago"))")
                }
            }
            guard let settings else {
                print("signature: not checked (no --config)")
                return false
            }
            // Signature: every configured key set, claims ignored.
            var signatureVerdict: (String, JWTVerifier)? = nil
            var reasons: [String] = []
            let candidates: [(String, JWTVerifier?)] = [
                ("legacy", settings.legacyVerifier),
                (
                    "better-auth",
                    settings.betterAuthStaticKeys.isEmpty ? nil : settings.betterAuthVerifier(jwks: JWTKeySet())
                ),
            ]
            for (name, verifier) in candidates {
                guard let verifier else { continue }
                var relaxed = verifier
                relaxed.issuer = nil
                relaxed.audience = nil
                relaxed.requireExp = false
                relaxed.leewaySeconds = Int64(Int32.max)
                switch relaxed.verify(token, now: now) {
                case .success:
                    signatureVerdict = (name, verifier)
                case .failure(let reason):
                    reasons.append("\(name): \(reason.rawValue)")
                }
                if signatureVerdict != nil { break }
            }
            guard let (system, verifier) = signatureVerdict else {
                print(
                    "signature: INVALID (\(reasons.isEmpty ? "no keys configured" : reasons.joined(separator: "; ")))"
                )
                if settings.betterAuthStaticKeys.isEmpty {
                    print(
                        "  note: Better Auth JWKS keys are fetched by the running gateway; check /api/auth/jwks for the kid"
                    )
                }
                return false
            }
            print("signature: valid (\(system) key)")
            switch verifier.verify(token, now: now) {
            case .success(let jwt):
                print("claims verdict: valid (sub \(jwt.subject))")
                return true
            case .failure(let reason):
                print("claims verdict: INVALID (\(reason.rawValue): \(reason.message))")
                return false
            }
        }

        static func inspectSession(_ value: String, settings: AuthSettings?) -> Bool {
            let decoded = SessionTokenSigning.percentDecode(Substring(value)) ?? Substring(value)
            guard let dot = decoded.lastIndex(of: ".") else {
                print("kind: raw session token or opaque token (\(value.utf8.count) bytes, no signature)")
                print(
                    "verdict: accepted only where auth.accept_raw_bearer is on, then resolved by the session resolver"
                )
                return settings?.policy.acceptRawBearer ?? false
            }
            print("kind: Better Auth signed session value")
            print(
                "token: \(decoded[..<dot].count) characters; signature: \(decoded[decoded.index(after: dot)...].count) characters"
            )
            guard let signer = settings?.sessionSigner else {
                print("signature: not checked (no --config with auth.better_auth_secret)")
                return false
            }
            switch signer.verify(signedValue: Substring(value)) {
            case .success:
                print("signature: valid (HMAC-SHA256 with better_auth_secret)")
                print("session: resolved by the gateway's session resolver at request time")
                return true
            case .failure(let reason):
                print("signature: INVALID (\(reason.rawValue): \(reason.message))")
                return false
            }
        }
    }
}
