import AuthGate
import AuthGateCore
import Logging
import NIOPosix
import Testing

/// swift-service-lifecycle names a service `"\(service)"` in its debug and trace lines
/// ("Starting service", "Service finished", …): the gateway's service must not print the
/// environment or the configuration it holds.
@Suite("GatewayService redaction")
struct GatewayServiceRedactionTests {
    @Test("GatewayService describes and reflects itself without the environment or the config")
    func serviceDescription() {
        let secret = "legacy-secret-from-the-environment-0123456789"
        let password = "db-password-from-the-environment"
        var config = GatewayConfig()
        config.auth.legacyJWTSecret = Secret(secret)
        config.auth.databaseURL = Secret("postgres://gw:\(password)@127.0.0.1:5432/app")
        let service = GatewayService(
            config: config,
            configPath: "/etc/authgate/gateway.conf",
            environment: [
                "LEGACY_JWT_SECRET": secret,
                "DATABASE_URL": "postgres://gw:\(password)@127.0.0.1:5432/app",
                "SOME_OTHER_TOKEN": "unrelated-token-in-the-environment",
            ],
            group: MultiThreadedEventLoopGroup.singleton,
            logger: Logger(label: "test")
        )
        var dumped = ""
        dump(service, to: &dumped)
        let output = ["\(service)", String(reflecting: service), dumped].joined(separator: "\n")
        for leaked in [secret, password, "unrelated-token-in-the-environment", "LEGACY_JWT_SECRET"] {
            #expect(!output.contains(leaked), "\(leaked) printed")
        }
        #expect("\(service)" == "GatewayService")
    }
}
