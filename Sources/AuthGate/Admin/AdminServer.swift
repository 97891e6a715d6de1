import AuthGateCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// The operators' listener: `/health`, `/ready`, `/metrics` and `POST /admin/reload`.
///
/// It binds to loopback by default and is separate from the proxy listener so that nothing on
/// it is ever reachable through nginx.
enum AdminServer {
    static func bind(address: HostAndPort, group: any EventLoopGroup, gateway: GatewayBox) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(gateway: gateway))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .bind(host: address.host, port: address.port)
            .get()
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let gateway: GatewayBox
    private var head: HTTPRequestHead?

    init(gateway: GatewayBox) {
        self.gateway = gateway
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            self.route(head, context: context)
        }
    }

    private func route(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard let gateway = self.gateway.gateway else {
            self.respond(.serviceUnavailable, json: #"{"status":"starting"}"#, head: head, context: context)
            return
        }
        switch (head.method, path) {
        case (.GET, "/health"):
            self.respond(
                .ok,
                json: "{\"status\":\"ok\",\"timestamp\":\"\(Timestamp.iso8601Now())\"}",
                head: head,
                context: context
            )
        case (.GET, "/ready"):
            let probe = gateway.readinessProbe
            let snapshot = gateway.configStore.current
            let eventLoop = context.eventLoop
            let promise = eventLoop.makePromise(of: Readiness.self)
            promise.completeWithTask { await probe.run(snapshot: snapshot, eventLoop: eventLoop) }
            promise.futureResult.assumeIsolated().whenSuccess { report in
                self.respond(
                    report.isReady ? .ok : .serviceUnavailable,
                    json: report.renderJSON(),
                    head: head,
                    context: context
                )
            }
        case (.GET, "/metrics"):
            let core = gateway.introspection
            let stats = core.cache.statistics(including: core.sessionFlights)
            gateway.metrics.rateLimiterKeys.set(gateway.runtime.rateLimiter.count)
            var text = gateway.metrics.render()
            for (name, help, kind, value) in [
                ("authgate_identity_cache_entries", "Entries in the identity cache.", "gauge", stats.size),
                ("authgate_identity_cache_lookups_total", "Identity cache lookups.", "counter", stats.lookups),
                ("authgate_identity_cache_hits_total", "Identity cache hits.", "counter", stats.hits),
                ("authgate_identity_cache_misses_total", "Identity cache misses.", "counter", stats.misses),
                (
                    "authgate_identity_cache_negative_hits_total", "Cached rejections served.", "counter",
                    stats.negativeHits
                ),
                (
                    "authgate_identity_cache_single_flight_joins_total", "Requests that joined a lookup in flight.",
                    "counter", stats.singleFlightJoins
                ),
                ("authgate_identity_cache_evictions_total", "Entries evicted for space.", "counter", stats.evictions),
                (
                    "authgate_identity_cache_removals_total", "Entries removed by sign-out, purge or notification.",
                    "counter", stats.removals
                ),
            ] {
                text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind)\n\(name) \(value)\n"
            }
            self.respond(
                .ok,
                body: text,
                contentType: "text/plain; version=0.0.4; charset=utf-8",
                head: head,
                context: context
            )
        case (.POST, "/admin/cache/purge"):
            // `?user=ID` evicts one user's entries (every session and token); no query purges all.
            let query = head.uri.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
            let user = query.split(separator: "&").first { $0.hasPrefix("user=") }.map { String($0.dropFirst(5)) }
            let cache = gateway.introspection.cache
            let evicted = user.map { cache.evictUser($0) } ?? cache.purgeAll()
            gateway.runtime.migrationStatus.purge()
            if let user {
                // Purging a user revokes them: their open tunnels close too.
                gateway.runtime.tunnels.close { $0.identity.userID == user }
            } else {
                gateway.runtime.tunnels.revalidate(
                    using: gateway.introspection,
                    settings: gateway.configStore.current.auth
                )
            }
            self.respond(.ok, json: "{\"status\":\"purged\",\"evicted\":\(evicted)}", head: head, context: context)
        case (.GET, "/.well-known/jwks.json"):
            // The public keys of X-Auth-Assertion; empty when assertions are off or use HS256.
            let jwks = gateway.configStore.current.assertionSigner?.jwksJSON() ?? "{\"keys\":[]}"
            self.respond(.ok, json: jwks, head: head, context: context)
        case (.POST, "/admin/reload"):
            do {
                let snapshot = try gateway.reloadFromFile()
                self.respond(
                    .ok,
                    json: "{\"status\":\"reloaded\",\"generation\":\(snapshot.generation)}",
                    head: head,
                    context: context
                )
            } catch {
                var json =
                    "{\"error\":\"invalid_config\",\"message\":\"The configuration was rejected; the running one is kept.\",\"issues\":["
                for (index, issue) in error.issues.enumerated() {
                    if index > 0 { json += "," }
                    json += "{\"key\":"
                    ErrorBody.appendJSONString(issue.key, to: &json)
                    json += ",\"reason\":"
                    ErrorBody.appendJSONString(issue.reason, to: &json)
                    json += "}"
                }
                json += "]}"
                self.respond(.unprocessableEntity, json: json, head: head, context: context)
            }
        default:
            self.respond(
                .notFound,
                json: #"{"error":"not_found","message":"No such admin endpoint."}"#,
                head: head,
                context: context
            )
        }
    }

    private func respond(
        _ status: HTTPResponseStatus,
        json: String,
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        self.respond(status, body: json, contentType: "application/json", head: head, context: context)
    }

    private func respond(
        _ status: HTTPResponseStatus,
        body: String,
        contentType: String,
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil
        )
        context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        if keepAlive {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let promise = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: promise)
            promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
