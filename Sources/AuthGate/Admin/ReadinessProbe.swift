import AsyncHTTPClient
import AuthGateCore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// Checks the dependencies of a ``Readiness/Plan`` for `GET /ready`, all at once, each within
/// its own timeout (the backend's connect timeout, the auth server's timeout, 2 s for
/// PostgreSQL), so one slow dependency never hides the state of the others.
///
/// It runs on the admin listener only, never on the request path: a TCP connect to the
/// backend, `GET /api/auth/ok` on the auth server, one short-lived PostgreSQL connection with
/// `SELECT 1`, a look at the key set already loaded, and the session store's state as the
/// ``SecondaryStorageWatch`` last saw it. Reasons never carry a password.
struct ReadinessProbe: Sendable {
    let httpClient: HTTPClient
    /// The number of keys in the JWKS, if there is a key store: the keys loaded, or, while
    /// none is, those of the fetch in flight (or of a new one, outside the refetch cooldown).
    let jwksKeyCount: @Sendable (any EventLoop) async -> Int?
    /// What the postgres resolver's ``SecondaryStorageWatch`` concluded, `nil` without one
    /// (another resolver is running: nothing to report against).
    let sessionStore: @Sendable () -> Result?
    let logger: Logger

    typealias Result = (status: Readiness.Status, reason: String?)

    func run(snapshot: ConfigSnapshot, eventLoop: any EventLoop) async -> Readiness {
        let plan = Readiness.Plan(config: snapshot.config)
        let found = await withTaskGroup(of: (Readiness.Dependency, Result).self) { group in
            for item in plan.checks {
                group.addTask {
                    (item.dependency, await self.check(item.dependency, snapshot: snapshot, eventLoop: eventLoop))
                }
            }
            var found: [Readiness.Dependency: Result] = [:]
            for await (dependency, result) in group { found[dependency] = result }
            return found
        }
        return Readiness(plan: plan, found: found)
    }

    private func check(
        _ dependency: Readiness.Dependency,
        snapshot: ConfigSnapshot,
        eventLoop: any EventLoop
    ) async
        -> Result
    {
        let config = snapshot.config
        switch dependency {
        case .backend:
            let target = snapshot.upstream
            do {
                let channel = try await ClientBootstrap(group: eventLoop)
                    .connectTimeout(.milliseconds(Int64(config.upstream.connectTimeoutMs)))
                    .connect(host: target.host, port: target.port)
                    .get()
                try? await channel.close()
                return (.up, nil)
            } catch {
                return (.down, "cannot connect to \(target.hostHeader): \(Self.describe(error))")
            }
        case .authServer:
            let url = snapshot.auth.authServerURL + "/api/auth/ok"
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .GET
                let response = try await self.httpClient.execute(
                    request,
                    timeout: .milliseconds(Int64(config.auth.authServerTimeoutMs)),
                    logger: self.logger
                )
                _ = try? await response.body.collect(upTo: 4096)
                guard response.status == .ok else {
                    return (.down, "GET /api/auth/ok answered \(response.status.code)")
                }
                return (.up, nil)
            } catch {
                return (.down, "GET /api/auth/ok failed: \(Self.describe(error))")
            }
        case .postgres:
            guard let url = config.auth.databaseURL.flatMap({ DatabaseURL($0.value) }) else {
                return (.down, "auth.database_url is not a postgres URL")
            }
            do {
                let connection = try await PostgresConnection.connect(
                    on: eventLoop,
                    configuration: url.connectionConfiguration(connectTimeout: .seconds(2)),
                    id: 1,
                    logger: self.logger
                )
                do {
                    _ = try await connection.rows("SELECT 1", logger: self.logger)
                    try? await connection.close()
                    return (.up, nil)
                } catch {
                    try? await connection.close()
                    throw error
                }
            } catch {
                return (.down, "cannot reach \(url): \(MigrationDatabase.describe(error, url: url))")
            }
        case .jwks:
            guard let count = await self.jwksKeyCount(eventLoop) else { return (.down, "no key store") }
            return count > 0 ? (.up, nil) : (.down, "no key loaded from \(snapshot.auth.authServerURL)/api/auth/jwks")
        case .sessionStore:
            // No I/O: the state of the probes that confirm empty lookups with get-session.
            return self.sessionStore() ?? (.up, nil)
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        if let error = error as? ChannelError { return "\(error)" }
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}

extension Gateway {
    /// The probe behind `GET /ready`.
    var readinessProbe: ReadinessProbe {
        let introspection = self.introspection
        return ReadinessProbe(
            httpClient: self.httpClient,
            jwksKeyCount: { eventLoop in
                guard let jwks = introspection.jwks else { return nil }
                let known = jwks.keys.count
                if known > 0 { return known }
                return try? await jwks.refreshWithoutWaiting(on: eventLoop).get().count
            },
            sessionStore: { introspection.secondaryStorage?.readiness },
            logger: self.readinessLogger
        )
    }
}
