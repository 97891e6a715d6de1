import AuthGateCore

/// Where authentication events go: the audit log (PostgreSQL, spill file) or nowhere.
///
/// `record` is called on the event loop for every authentication event and must return at once:
/// no I/O, no lock held for long, no Task.
protocol AuditSink: Sendable {
    /// Whether events are wanted at all; when false the request path does not build them.
    var isEnabled: Bool { get }
    func record(_ event: AuditEvent)
}

/// The sink when the audit trail is off or there is no database.
struct DisabledAuditSink: AuditSink {
    var isEnabled: Bool { false }
    func record(_ event: AuditEvent) {}
}
