import Testing

@testable import AuthGateCore

/// Every way Swift can print a value: what a log line, an error or a library's description of
/// a holder may use.
private func everyPrinting(_ value: Any) -> String {
    var dumped = ""
    dump(value, to: &dumped)
    return [String(describing: value), String(reflecting: value), "\(value)", dumped].joined(separator: "\n")
}

/// Values that hold secrets never print them, whichever printing is used.
@Suite("Secret redaction")
struct SecretRedactionTests {
    static let secret = "s3cr3t-value-that-must-never-print"
    static let password = "pa:ss/w@rd+secret"

    @Test("Secret prints <redacted> through description, reflection and dump")
    func secret() {
        let output = everyPrinting(Secret(Self.secret))
        #expect(!output.contains(Self.secret))
        #expect(output.contains("<redacted>"))
    }

    @Test("A configuration holding secrets prints none of them, dumped whole")
    func configuration() {
        var config = GatewayConfig()
        config.auth.legacyJWTSecret = Secret(Self.secret + "-legacy")
        config.auth.betterAuthSecret = Secret(Self.secret + "-better-auth")
        config.auth.betterAuthJWTSecret = Secret(Self.secret + "-jwt")
        config.auth.databaseURL = Secret("postgres://gw:\(Self.password)@db:5432/app")
        config.assertion.secret = Secret(Self.secret + "-assertion")
        let output = everyPrinting(config)
        #expect(!output.contains(Self.secret))
        #expect(!output.contains(Self.password))
    }

    @Test("DatabaseURL never prints its password, not even through String(reflecting:) or dump")
    func databaseURL() throws {
        let url = try #require(DatabaseURL("postgres://gw:pa%3Ass%2Fw%40rd%2Bsecret@db.internal:6432/app"))
        #expect(url.password == Self.password)
        let output = everyPrinting(url)
        #expect(!output.contains(Self.password))
        #expect(!output.contains("pa%3Ass"))
        #expect(output.contains("db.internal"))
        #expect(String(reflecting: url) == "postgres://gw@db.internal:6432/app")
    }

    @Test("ConfigEnvironment prints neither names nor values")
    func environment() {
        let environment = ConfigEnvironment(["LEGACY_JWT_SECRET": Self.secret, "DATABASE_URL": Self.password])
        let output = everyPrinting(environment)
        #expect(!output.contains(Self.secret))
        #expect(!output.contains(Self.password))
        #expect(!output.contains("LEGACY_JWT_SECRET"))
        #expect(output.contains("2 variables"))
        #expect(environment.variables["LEGACY_JWT_SECRET"] == Self.secret)
    }
}
