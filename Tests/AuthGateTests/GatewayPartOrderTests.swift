import AuthGateCore
import Foundation
import NIOCore
import Testing

@testable import AuthGate

/// The one stated order of the gateway's parts: what must have stopped before what.
@Suite("Gateway shutdown order")
struct GatewayPartOrderTests {
    static func position(_ part: GatewayPart) -> Int {
        GatewayPart.shutdownOrder.firstIndex(of: part)!
    }

    @Test("every part is in the order once, and shutdown is the reverse of start")
    func everyPartOnce() {
        #expect(GatewayPart.startOrder.count == GatewayPart.allCases.count)
        #expect(Set(GatewayPart.startOrder) == Set(GatewayPart.allCases))
        #expect(GatewayPart.shutdownOrder == Array(GatewayPart.startOrder.reversed()))
    }

    @Test(
        "reloads stop first, the proxy drains before anything it uses stops, the database closes after the audit writer"
    )
    func dependenciesStopAfterTheirUsers() {
        // No reload starts during the drain.
        #expect(Self.position(.reloadSignal) < Self.position(.proxyListener))
        #expect(Self.position(.configFileWatcher) < Self.position(.proxyListener))
        // In-flight exchanges still record audit events, query PostgreSQL, use the pools.
        for part in [
            GatewayPart.adminListener, .housekeeping, .cacheEvictionListener, .auditWriter, .postgres, .resources,
        ] {
            #expect(Self.position(.proxyListener) < Self.position(part), "\(part)")
        }
        // /ready and /metrics answer during the drain.
        #expect(Self.position(.proxyListener) < Self.position(.adminListener))
        // The queued audit events are written through the shared client.
        #expect(Self.position(.auditWriter) < Self.position(.postgres))
        // Housekeeping counts sessions in PostgreSQL and revalidates tunnels over HTTP.
        #expect(Self.position(.housekeeping) < Self.position(.postgres))
        #expect(Self.position(.housekeeping) < Self.position(.resources))
        #expect(GatewayPart.shutdownOrder.last == .resources)
    }

    @Test("the gateway composes the parts its configuration has, in the stated order, and stops them all")
    func composedInOrder() async throws {
        try await GatewayFixture.withGateway { fixture in
            #expect(fixture.gateway.parts == [.resources, .housekeeping, .adminListener, .proxyListener])
        }
        // With a database (none listens there): the shared client, the listener and the audit
        // writer join, in their places; shutdown still returns (the writer has nothing queued,
        // the listener stops retrying).
        let spill = FileManager.default.temporaryDirectory
            .appendingPathComponent("authgate-parts-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: spill) }
        let started = ContinuousClock.now
        let withDatabase: (inout GatewayConfig) -> Void = { config in
            config.auth.databaseURL = Secret("postgres://authgate:secret@127.0.0.1:1/authgate")
            config.audit.enabled = true
            config.audit.spillFile = spill
        }
        try await GatewayFixture.withGateway(configure: withDatabase) { fixture in
            #expect(
                fixture.gateway.parts
                    == GatewayPart.startOrder.filter { ![.configFileWatcher, .reloadSignal].contains($0) }
            )
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
