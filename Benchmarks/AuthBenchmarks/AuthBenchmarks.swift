// Micro-benchmarks of AuthGate's per-request credential checks (AuthGateCore's public API):
// JWT verification per algorithm, the Better Auth session-cookie HMAC, the cache key (SHA-256
// of the credential) and an identity-cache hit.
//
//   cd Benchmarks && swift package benchmark --target AuthBenchmarks
//
// Every benchmark runs its body `scaledIterations` times (scaling factor .kilo), so the
// reported numbers are per single call. Tokens are minted once, in the setup, outside the
// measurement.

import AuthGateCore
import Benchmark
import Crypto
import _CryptoExtras

/// A fixed "now" inside every token's validity window.
private let now: Int64 = 1_800_000_000

/// Legacy-backend claims: `sub, email, role, iat, exp`.
private let legacyClaims: JSONValue = .object([
    "sub": .string("user-4711"),
    "email": .string("jane.doe@example.com"),
    "role": .string("admin"),
    "iat": .number(Double(now - 60)),
    "exp": .number(Double(now + 3600)),
])

/// Better Auth JWT-plugin claims (what an EdDSA/ES256/RS256 token from the auth server carries).
private let betterAuthClaims: JSONValue = .object([
    "sub": .string("user-4711"),
    "email": .string("jane.doe@example.com"),
    "iss": .string("https://auth.example.com"),
    "aud": .string("https://auth.example.com"),
    "iat": .number(Double(now - 60)),
    "exp": .number(Double(now + 900)),
])

private let hs256Secret = "legacy-backend-secret-0123456789-abcdefghij"

private func signingInput(alg: String, kid: String, claims: JSONValue) -> String {
    let header: JSONValue = .object(["alg": .string(alg), "typ": .string("JWT"), "kid": .string(kid)])
    return Base64URL.encode(Array(header.jsonString.utf8)) + "." + Base64URL.encode(Array(claims.jsonString.utf8))
}

private func es256Token(key: P256.Signing.PrivateKey, kid: String) throws -> String {
    let input = signingInput(alg: "ES256", kid: kid, claims: betterAuthClaims)
    let signature = try key.signature(for: SHA256.hash(data: Array(input.utf8)))
    return input + "." + Base64URL.encode(Array(signature.rawRepresentation))
}

private func rs256Token(key: _RSA.Signing.PrivateKey, kid: String) throws -> String {
    let input = signingInput(alg: "RS256", kid: kid, claims: betterAuthClaims)
    let signature = try key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5)
    return input + "." + Base64URL.encode(Array(signature.rawRepresentation))
}

private func expectValid(_ result: Result<VerifiedJWT, RejectionReason>, _ what: String) {
    if case .failure(let reason) = result {
        fatalError("\(what): the benchmark token was rejected: \(reason)")
    }
}

/// A 32-character Better Auth session token signed into the 77-character `token.signature`
/// value (44-character base64 signature), URI-encoded as the cookie carries it.
private let sessionSecret = "better-auth-secret-0123456789-abcdefghijkl"
private let sessionToken = "Yp1Wc3zK8tq2fU0aN5vQ7rL4mH6dS9xE"

private func cache() -> IdentityCache {
    IdentityCache(configuration: .init(positiveTTL: .seconds(600)))
}

private func identity(_ kind: CredentialKind) -> Identity {
    Identity(
        userID: "user-4711",
        email: "jane.doe@example.com",
        roles: ["admin"],
        kind: kind,
        sessionID: "s1",
        expiresAt: nil
    )
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )

    // MARK: JWT verification, per algorithm

    Benchmark("JWTVerifier.verify HS256 (legacy claims)") { benchmark in
        let token = JWTSigner.hs256(claims: legacyClaims, secret: hs256Secret)
        let verifier = JWTVerifier(keySet: JWTKeySet(keys: [try JWTKey.hs256(secret: hs256Secret)]))
        expectValid(verifier.verify(token, now: now), "HS256")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(verifier.verify(token, now: now))
        }
    }

    Benchmark("JWTVerifier.verify EdDSA") { benchmark in
        let key = Curve25519.Signing.PrivateKey()
        let token = try JWTSigner.edDSA(claims: betterAuthClaims, key: key, kid: "ed1")
        let verifier = JWTVerifier(
            keySet: JWTKeySet(keys: [.edDSA(publicKey: key.publicKey, kid: "ed1")]),
            issuer: "https://auth.example.com",
            audience: "https://auth.example.com"
        )
        expectValid(verifier.verify(token, now: now), "EdDSA")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(verifier.verify(token, now: now))
        }
    }

    Benchmark("JWTVerifier.verify ES256") { benchmark in
        let key = P256.Signing.PrivateKey()
        let token = try es256Token(key: key, kid: "es1")
        let verifier = JWTVerifier(
            keySet: JWTKeySet(keys: [.es256(publicKey: key.publicKey, kid: "es1")]),
            issuer: "https://auth.example.com",
            audience: "https://auth.example.com"
        )
        expectValid(verifier.verify(token, now: now), "ES256")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(verifier.verify(token, now: now))
        }
    }

    Benchmark("JWTVerifier.verify RS256 (2048-bit)") { benchmark in
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let token = try rs256Token(key: key, kid: "rs1")
        let verifier = JWTVerifier(
            keySet: JWTKeySet(keys: [try .rsa(publicKey: key.publicKey, kid: "rs1")]),
            issuer: "https://auth.example.com",
            audience: "https://auth.example.com"
        )
        expectValid(verifier.verify(token, now: now), "RS256")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(verifier.verify(token, now: now))
        }
    }

    // MARK: Better Auth session cookie

    Benchmark("SessionTokenSigner.verify (cookie value, URI-encoded)") { benchmark in
        let signer = SessionTokenSigner(secret: sessionSecret)
        let cookie = signer.cookieValue(token: sessionToken)
        guard case .success = signer.verify(signedValue: cookie[...]) else { fatalError("bad cookie") }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(signer.verify(signedValue: cookie[...]))
        }
    }

    // MARK: Cache

    Benchmark("CredentialKey (session token, 32 chars)") { benchmark in
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(CredentialKey(kind: .sessionCookie, credential: sessionToken))
        }
    }

    Benchmark("CredentialKey (legacy HS256 token)") { benchmark in
        let token = JWTSigner.hs256(claims: legacyClaims, secret: hs256Secret)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(CredentialKey(kind: .bearer, credential: token))
        }
    }

    Benchmark("IdentityCache.lookup (hit)") { benchmark in
        let cache = cache()
        let key = CredentialKey(kind: .sessionCookie, credential: sessionToken)
        precondition(cache.storePositive(key, identity(.betterAuthSessionCookie)))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(cache.lookup(key))
        }
    }

    // The whole cache-hit path as the gateway runs it for a request whose identity is cached:
    // hash the credential, look it up.
    Benchmark("cache hit path: CredentialKey + lookup (session value, 44 chars)") { benchmark in
        let cache = cache()
        // 44 characters: the size of a session value a Better Auth deployment hands out.
        let value = sessionToken + "abcdefghijkl"
        precondition(value.utf8.count == 44)
        precondition(cache.storePositive(CredentialKey(kind: .sessionCookie, credential: value), identity(.betterAuthSessionCookie)))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let result = cache.lookup(CredentialKey(kind: .sessionCookie, credential: value))
            guard case .hit = result else { fatalError("expected a cache hit") }
            blackHole(result)
        }
    }

    Benchmark("cache hit path: CredentialKey + lookup (legacy HS256 token)") { benchmark in
        let cache = cache()
        let token = JWTSigner.hs256(claims: legacyClaims, secret: hs256Secret)
        precondition(cache.storePositive(CredentialKey(kind: .bearer, credential: token), identity(.legacyJWT)))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let result = cache.lookup(CredentialKey(kind: .bearer, credential: token))
            guard case .hit = result else { fatalError("expected a cache hit") }
            blackHole(result)
        }
    }
}
