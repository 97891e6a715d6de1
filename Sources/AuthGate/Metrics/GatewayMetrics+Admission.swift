import AuthGateCore

extension GatewayMetrics {
    /// Adds one to the counter an admission decision names.
    @inline(__always) func count(_ counter: AdmissionCounter) {
        switch counter {
        case .rejectedRequest: self.rejectedRequests.increment()
        case .badPath: self.badPaths.increment()
        case .rateLimitedIP: self.rateLimitedIP.increment()
        case .rateLimitedClass: self.rateLimitedClass.increment()
        case .lockedOut: self.lockedOut.increment()
        case .rateLimitedUser: self.rateLimitedUser.increment()
        case .authUnavailable: self.authUnavailable.increment()
        case .migratedLegacyRefused: self.migratedLegacyRefused.increment()
        case .migratedLegacyRecorded: self.migratedLegacyRecorded.increment()
        }
    }

    /// Counts a verdict: the attempt, then its success or failure under the same method, so
    /// that every ratio of these counters stays within 0–1.
    func record(_ outcome: CallerAdmission.VerdictOutcome) {
        if let counter = outcome.counter { self.count(counter) }
        self.recordAttempt(method: outcome.method)
        if outcome.isSuccess, let method = outcome.method {
            self.recordSuccess(method: method)
        } else {
            self.recordFailure(method: outcome.method, reason: outcome.failureReason)
        }
    }
}
