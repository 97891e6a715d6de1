import AuthGateCore
import Testing

@testable import AuthGate

/// The Prometheus exposition: the operators' names, with bounded labels, moving as events happen.
@Suite("GatewayMetrics exposition")
struct GatewayMetricsTests {
    /// The sample's value: counters read `7`, swift-prometheus gauges `7.0`.
    static func value(_ series: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            let sample = line.dropFirst(series.count + 1)
            return Int(sample) ?? Double(sample).flatMap { Int(exactly: $0) }
        }
        return nil
    }

    @Test("auth counters carry auth_method, reason and outcome labels")
    func labelledAuthCounters() {
        let metrics = GatewayMetrics()
        metrics.recordAttempt(method: .legacy)
        metrics.recordAttempt(method: .legacy)
        metrics.recordAttempt(method: nil)
        metrics.recordSuccess(method: .legacy)
        metrics.recordFailure(method: .legacy, reason: .expired)
        metrics.recordFailure(method: nil, reason: .missingCredential)
        metrics.recordFailure(method: .betterAuth, reason: nil)
        metrics.recordValidation(method: .betterAuth, outcome: .valid)
        metrics.recordValidation(method: .betterAuth, outcome: .error)
        metrics.recordCacheHit(method: .betterAuth)
        let text = metrics.render()
        #expect(Self.value("better_auth_attempts_total{auth_method=\"legacy\"}", in: text) == 2)
        #expect(Self.value("better_auth_attempts_total{auth_method=\"none\"}", in: text) == 1)
        #expect(Self.value("better_auth_attempts_total{auth_method=\"better-auth\"}", in: text) == 0)
        #expect(Self.value("better_auth_success_total{auth_method=\"legacy\"}", in: text) == 1)
        #expect(
            Self.value("better_auth_failures_total{auth_method=\"legacy\",reason=\"token_expired\"}", in: text) == 1
        )
        #expect(
            Self.value("better_auth_failures_total{auth_method=\"none\",reason=\"missing_credential\"}", in: text) == 1
        )
        #expect(
            Self.value("better_auth_failures_total{auth_method=\"better-auth\",reason=\"auth_unavailable\"}", in: text)
                == 1
        )
        #expect(
            Self.value("better_auth_token_validations_total{auth_method=\"better-auth\",outcome=\"valid\"}", in: text)
                == 1
        )
        #expect(
            Self.value("better_auth_token_validations_total{auth_method=\"better-auth\",outcome=\"error\"}", in: text)
                == 1
        )
        #expect(Self.value("better_auth_token_cache_hits_total{auth_method=\"better-auth\"}", in: text) == 1)
        #expect(metrics.authAttemptsTotal == 3)
        #expect(metrics.authFailuresTotal == 3)
    }

    @Test("a reason series appears once it moves; label values stay within the known sets")
    func boundedLabels() {
        let metrics = GatewayMetrics()
        for reason in RejectionReason.allCases {
            metrics.recordFailure(method: .legacy, reason: reason)
        }
        let text = metrics.render()
        let failureLines = text.split(separator: "\n").filter { $0.hasPrefix("better_auth_failures_total{") }
        // Every reason for legacy, plus the two always-present series per method.
        #expect(failureLines.count == RejectionReason.allCases.count + 1 + 2 * 2)
        for line in failureLines {
            #expect(
                line.contains("auth_method=\"legacy\"") || line.contains("auth_method=\"better-auth\"")
                    || line.contains("auth_method=\"none\"")
            )
        }
    }

    @Test("requests are counted by route class and status class")
    func requestsByRouteClass() {
        let metrics = GatewayMetrics()
        metrics.recordResponse(status: 200, routeClass: .authenticated)
        metrics.recordResponse(status: 429, routeClass: .login)
        metrics.recordResponse(status: 503, routeClass: .authenticated)
        metrics.recordResponse(status: 99, routeClass: .public)  // not a status class: ignored
        metrics.activeSessions.set(7)
        let text = metrics.render()
        #expect(
            Self.value("authgate_http_requests_total{route_class=\"authenticated\",status_class=\"2xx\"}", in: text)
                == 1
        )
        #expect(Self.value("authgate_http_requests_total{route_class=\"login\",status_class=\"4xx\"}", in: text) == 1)
        #expect(
            Self.value("authgate_http_requests_total{route_class=\"authenticated\",status_class=\"5xx\"}", in: text)
                == 1
        )
        #expect(Self.value("better_auth_active_sessions", in: text) == 7)
        #expect(text.contains("# TYPE better_auth_active_sessions gauge"))
    }
}
