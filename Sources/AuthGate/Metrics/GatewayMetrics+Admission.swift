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
        }
    }
}
