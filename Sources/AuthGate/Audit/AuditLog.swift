import AuthGateCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// The audit trail: authentication events to `auth_audit_log`, in batches, off the request
/// path, losing none and duplicating none when PostgreSQL goes away.
///
/// ## Request path
///
/// ``record(_:)`` takes one short lock: it gives the event its ``AuditEventID`` (so the id
/// order is the record order), appends it to the queue and, when that completes a batch, wakes
/// the writer. No I/O, no allocation beyond the queue's growth, no Task.
///
/// ## The queue and its overflow
///
/// The queue is meant to hold `audit.queue_capacity` events. `record` never blocks and never
/// drops, so an event recorded while the queue is full is still taken (the buffer grows past
/// the capacity) and the writer is woken: its next step moves the *whole* queue, in order, to
/// the spill file (an append of whole lines, far faster than an insert) and then catches up by
/// replaying the file. The file append is done by the writer, on `NIOThreadPool`, never on an
/// event loop; the price is that the overflow lives in memory for as long as the writer's
/// current step takes (at most the write timeout, ``Settings/writeTimeout``).
///
/// ## The writer
///
/// One task, driven by ``AuditWriterStateMachine`` (which documents the ordering and
/// exactly-once argument). Rows are inserted with one multi-row `INSERT … ON CONFLICT
/// (event_id) DO NOTHING` per batch (split below PostgreSQL's 65535 parameters). A failed
/// insert sends the batch, and everything after it, to the spill file (append, `fsync`) until
/// the file has been replayed; PostgreSQL is tried again every `audit.retry_interval_ms`.
///
/// ## `users.last_auth_method`
///
/// Kept without a write per request: the writer remembers, per user id, the method it last
/// wrote, and after each batch sends one `UPDATE … FROM (VALUES …)` for the users whose method
/// changed (successful events with a user id only; `IS DISTINCT FROM` makes repeated values
/// no-ops in the database too). A Better Auth user id that is not in the legacy table matches
/// no row, which is harmless. If the table or the column does not exist, that is logged once and
/// the updates stop.
final class AuditLog: AuditSink {
    /// Everything the writer needs, read from the config once at start.
    struct Settings: Sendable {
        var table: String
        var usersTable: String
        var usersIDColumn: String
        var spillPath: String
        var machine: AuditWriterStateMachine.Configuration
        /// The longest an insert may take before it counts as failed (and its batch is
        /// spilled; if it did commit, the replay is a no-op).
        var writeTimeout: TimeAmount = .seconds(2)

        init(config: GatewayConfig) {
            self.table = config.audit.table
            self.usersTable = config.rollout.usersTable
            self.usersIDColumn = config.rollout.usersIDColumn
            self.spillPath = config.audit.spillFile
            self.machine = .init(
                batchSize: config.audit.batchSize,
                queueCapacity: config.audit.queueCapacity,
                flushInterval: .milliseconds(Int64(config.audit.flushIntervalMs)),
                retryInterval: .milliseconds(Int64(config.audit.retryIntervalMs))
            )
        }
    }

    private struct Pending {
        var id: AuditEventID
        var event: AuditEvent
    }

    /// What `record` and the writer share, under one lock.
    private struct Shared {
        var queue: CircularBuffer<Pending>
        var nextSequence: UInt64 = 0
        /// Events the writer holds (taken, not stored yet); part of the queue depth.
        var held = 0
        var waiter: CheckedContinuation<Void, Never>? = nil
        var waiterGeneration: UInt64 = 0
        /// `record` wakes the waiting writer when the queue reaches this many events.
        var wakeAt = Int.max
        var shutdownDeadline: NIODeadline? = nil

        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { self.waiter = nil }
            return self.waiter
        }
    }

    var isEnabled: Bool { true }

    private let settings: Settings
    private let prefix: UInt64
    private let shared: NIOLockedValueBox<Shared>
    private let metrics: GatewayMetrics
    private let logger: Logger
    private let client: PostgresClient
    private let eventLoop: any EventLoop

    /// - Parameter client: the gateway's client for `auth.database_url`; its service group
    ///   closes it after the writer (``AuditWriterService``) has returned.
    init(
        client: PostgresClient,
        settings: Settings,
        metrics: GatewayMetrics,
        logger: Logger,
        eventLoop: any EventLoop
    ) {
        self.client = client
        self.settings = settings
        var random = SystemRandomNumberGenerator()
        self.prefix = random.next()
        self.shared = NIOLockedValueBox(
            Shared(queue: CircularBuffer(initialCapacity: min(settings.machine.queueCapacity, 4096)))
        )
        self.metrics = metrics
        self.logger = logger
        self.eventLoop = eventLoop
    }

    // MARK: - Request path

    func record(_ event: AuditEvent) {
        let waiter = self.shared.withLockedValue { shared -> CheckedContinuation<Void, Never>? in
            let id = AuditEventID(prefix: self.prefix, sequence: shared.nextSequence)
            shared.nextSequence &+= 1
            shared.queue.append(Pending(id: id, event: event))
            self.metrics.auditQueueDepth.set(shared.queue.count + shared.held)
            return shared.queue.count >= shared.wakeAt ? shared.takeWaiter() : nil
        }
        waiter?.resume()
    }

    // MARK: - Shutdown

    /// Has the writer write (or spill) what is queued, for at most `timeout`, and then return
    /// from ``runWriter()``.
    func beginShutdown(timeout: TimeAmount) {
        let waiter = self.shared.withLockedValue { shared in
            if shared.shutdownDeadline == nil { shared.shutdownDeadline = .now() + timeout }
            return shared.takeWaiter()
        }
        waiter?.resume()
    }

    // MARK: - The writer

    /// The writer: first replays a spill file left by a previous run, then stores what is
    /// recorded until ``beginShutdown(timeout:)``. Run by ``AuditWriterService``.
    func runWriter() async {
        var machine = AuditWriterStateMachine(configuration: self.settings.machine)
        let file = AuditSpillFile(path: self.settings.spillPath)
        var held: [AuditRecord] = []
        var lastMethods = LastMethods()
        var draining = false

        var startBytes: Int64 = 0
        do {
            let opened = try await NIOThreadPool.singleton.runIfActive { try file.open() }
            startBytes = opened.bytes
            if opened.tornBytes > 0 {
                self.logger.warning(
                    "audit spill file ended in a torn line (a crash mid-append); cut off",
                    metadata: ["path": "\(file.path)", "bytes": "\(opened.tornBytes)"]
                )
            }
            if opened.bytes > 0 {
                self.logger.notice(
                    "audit spill file from a previous run; replaying it first",
                    metadata: ["path": "\(file.path)", "bytes": "\(opened.bytes)"]
                )
            }
        } catch {
            self.logger.error(
                "audit spill file cannot be opened; events spill nowhere until it can",
                metadata: ["path": "\(file.path)", "error": "\(error)"]
            )
        }

        var action = machine.start(spillFileBytes: startBytes, now: .now())
        var lastState = machine.state
        while true {
            // Shutdown is taken up between steps whose decision holds no events.
            if !draining, let deadline = self.shutdownDeadline {
                switch action {
                case .wait, .replay:
                    draining = true
                    action = machine.shutdown(queued: self.queuedCount, now: .now(), deadline: deadline)
                case .insert, .spill, .truncateSpill, .finish:
                    // Carried out first: they hold events, or finish a replay.
                    break
                }
            }
            self.logTransition(from: &lastState, to: machine.state)

            switch action {
            case .wait(let until):
                await self.waitForWork(until: until, queuedAtDecision: self.queuedCount)
                if !draining, let deadline = self.shutdownDeadline {
                    draining = true
                    action = machine.shutdown(queued: self.queuedCount, now: .now(), deadline: deadline)
                } else {
                    action = machine.wake(queued: self.queuedCount, now: .now())
                }

            case .insert(let take):
                held += self.take(take)
                do {
                    try await self.insert(held)
                    self.metrics.auditEventsWritten.increment(by: held.count)
                    await self.updateLastAuthMethods(held, memory: &lastMethods)
                    held = []
                    self.setHeld(0)
                    action = machine.inserted(queued: self.queuedCount, now: .now())
                } catch {
                    self.metrics.auditWriteFailures.increment()
                    self.logWriteFailure(error, events: held.count)
                    action = machine.insertFailed(queued: self.queuedCount, now: .now())
                }

            case .spill(let take):
                held += self.take(take)
                let bytes = AuditSpillCodec.encode(held)
                do {
                    try await NIOThreadPool.singleton.runIfActive {
                        // Opened at start; again only if that failed.
                        if !file.isOpen { _ = try file.open() }
                        try file.append(bytes)
                    }
                    self.metrics.auditEventsSpilled.increment(by: held.count)
                    held = []
                    self.setHeld(0)
                    action = machine.spilled(bytes: Int64(bytes.count), queued: self.queuedCount, now: .now())
                } catch {
                    self.logger.error(
                        "audit events cannot be written to the spill file; holding them and retrying",
                        metadata: ["path": "\(file.path)", "events": "\(held.count)", "error": "\(error)"]
                    )
                    action = machine.spillFailed(queued: self.queuedCount, now: .now())
                }

            case .replay(let offset):
                let batchSize = self.settings.machine.batchSize
                do {
                    let chunk = try await NIOThreadPool.singleton.runIfActive {
                        try file.readRecords(offset: offset, maxRecords: batchSize)
                    }
                    if chunk.invalidLines > 0 || chunk.tornTail {
                        self.logger.warning(
                            "audit spill file lines that do not decode were skipped",
                            metadata: [
                                "path": "\(file.path)", "invalid_lines": "\(chunk.invalidLines)",
                                "torn_tail": "\(chunk.tornTail)",
                            ]
                        )
                    }
                    if !chunk.records.isEmpty {
                        try await self.insert(chunk.records)
                        self.metrics.auditEventsWritten.increment(by: chunk.records.count)
                        self.metrics.auditEventsReplayed.increment(by: chunk.records.count)
                        await self.updateLastAuthMethods(chunk.records, memory: &lastMethods)
                    }
                    action = machine.replayed(nextOffset: chunk.nextOffset, queued: self.queuedCount, now: .now())
                } catch {
                    if !(error is AuditSpillFileError) {
                        self.metrics.auditWriteFailures.increment()
                    }
                    self.logWriteFailure(error, events: nil)
                    action = machine.replayFailed(queued: self.queuedCount, now: .now())
                }

            case .truncateSpill:
                do {
                    try await NIOThreadPool.singleton.runIfActive { try file.truncate() }
                    action = machine.truncated(queued: self.queuedCount, now: .now())
                } catch {
                    self.logger.error(
                        "audit spill file cannot be truncated",
                        metadata: ["path": "\(file.path)", "error": "\(error)"]
                    )
                    action = machine.truncateFailed(queued: self.queuedCount, now: .now())
                }

            case .finish(let lost):
                if lost > 0 {
                    self.logger.critical(
                        "audit events lost: neither PostgreSQL nor the spill file took them before the shutdown deadline",
                        metadata: ["events": "\(lost)"]
                    )
                }
                self.logger.info("audit writer stopped", metadata: ["spill_bytes": "\(machine.spillBytes)"])
                return
            }
        }
    }

    private var queuedCount: Int { self.shared.withLockedValue { $0.queue.count } }
    private var shutdownDeadline: NIODeadline? { self.shared.withLockedValue { $0.shutdownDeadline } }

    /// Moves `count` events from the queue to the writer, as records (the session id hashed).
    private func take(_ count: Int) -> [AuditRecord] {
        guard count > 0 else { return [] }
        let pending = self.shared.withLockedValue { shared -> [Pending] in
            var out: [Pending] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(shared.queue.removeFirst()) }
            shared.held += count
            self.metrics.auditQueueDepth.set(shared.queue.count + shared.held)
            return out
        }
        return pending.map { AuditRecord(event: $0.event, eventID: $0.id) }
    }

    private func setHeld(_ held: Int) {
        self.shared.withLockedValue { shared in
            shared.held = held
            self.metrics.auditQueueDepth.set(shared.queue.count + shared.held)
        }
    }

    /// Sleeps until `until`, a full batch (counted from `queuedAtDecision`), an overflow or
    /// shutdown.
    private func waitForWork(until: NIODeadline, queuedAtDecision: Int) async {
        guard until > .now() else { return }
        let batchSize = self.settings.machine.batchSize
        let capacity = self.settings.machine.queueCapacity
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let generation = self.shared.withLockedValue { shared -> UInt64? in
                let wakeAt =
                    queuedAtDecision < batchSize ? batchSize : queuedAtDecision <= capacity ? capacity + 1 : Int.max
                guard shared.queue.count < wakeAt, shared.shutdownDeadline == nil else { return nil }
                shared.waiterGeneration &+= 1
                shared.waiter = continuation
                shared.wakeAt = wakeAt
                return shared.waiterGeneration
            }
            guard let generation else {
                continuation.resume()
                return
            }
            self.eventLoop.scheduleTask(deadline: until) {
                let waiter = self.shared.withLockedValue { shared in
                    shared.waiterGeneration == generation ? shared.takeWaiter() : nil
                }
                waiter?.resume()
            }
        }
        self.shared.withLockedValue { $0.wakeAt = Int.max }
    }

    // MARK: - SQL

    static let columns =
        "event_id, event_type, auth_method, success, user_id, session_id_hash, client_ip, user_agent, route, reason, request_id, created_at"
    static let parametersPerRow = 12
    /// PostgreSQL's limit is 65535 parameters per statement.
    static let maxRowsPerStatement = 65535 / parametersPerRow

    /// `INSERT INTO <table> (…) VALUES (…), … ON CONFLICT (event_id) DO NOTHING` for `rows` rows.
    static func insertSQL(table: String, rows: Int) -> String {
        var sql = "INSERT INTO \(SessionSchema.quoted(table)) (\(Self.columns)) VALUES "
        sql.reserveCapacity(sql.utf8.count + rows * 120)
        var parameter = 1
        for row in 0..<rows {
            if row > 0 { sql += "," }
            sql += "("
            for column in 0..<Self.parametersPerRow {
                if column > 0 { sql += "," }
                if column == Self.parametersPerRow - 1 {
                    sql += "timestamptz 'epoch' + $\(parameter) * interval '1 microsecond'"
                } else {
                    sql += "$\(parameter)"
                }
                parameter += 1
            }
            sql += ")"
        }
        sql += " ON CONFLICT (event_id) DO NOTHING"
        return sql
    }

    /// Inserts `records`, in statements of at most ``maxRowsPerStatement`` rows, each bounded
    /// by the write timeout.
    private func insert(_ records: [AuditRecord]) async throws {
        var start = 0
        while start < records.count {
            let end = min(records.count, start + Self.maxRowsPerStatement)
            var binds = PostgresBindings(capacity: (end - start) * Self.parametersPerRow)
            func optional(_ value: String?) {
                if let value { binds.append(value) } else { binds.appendNull() }
            }
            for record in records[start..<end] {
                binds.append(record.eventID)
                binds.append(record.eventType)
                optional(record.authMethod)
                binds.append(record.success)
                optional(record.userID)
                optional(record.sessionIDHash)
                binds.append(record.clientIP)
                optional(record.userAgent)
                binds.append(record.route)
                optional(record.reason)
                binds.append(record.requestID)
                binds.append(record.timeMicros)
            }
            let query = PostgresQuery(
                unsafeSQL: Self.insertSQL(table: self.settings.table, rows: end - start),
                binds: binds
            )
            try await self.execute(query)
            start = end
        }
    }

    /// Runs `query` to completion, or fails after the write timeout.
    private func execute(_ query: PostgresQuery) async throws {
        let client = self.client
        let logger = self.logger
        let timeout = self.settings.writeTimeout
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let rows = try await client.query(query, logger: logger)
                for try await _ in rows {}
            }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(timeout.nanoseconds))
                throw AuditWriteTimeout()
            }
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }

    /// Which method the writer last wrote per user; bounded (forgetting only costs an `UPDATE`
    /// that `IS DISTINCT FROM` turns into a no-op).
    private struct LastMethods {
        static let maxEntries = 100_000
        var methods: [String: String] = [:]
        var disabled = false
    }

    private func updateLastAuthMethods(_ records: [AuditRecord], memory: inout LastMethods) async {
        guard !memory.disabled else { return }
        var changed: [String: String] = [:]
        var order: [String] = []
        for record in records where record.eventType == AuditEvent.Kind.success.rawValue && record.success {
            guard let userID = record.userID, let method = record.authMethod else { continue }
            if memory.methods[userID] == method && changed[userID] == nil { continue }
            if changed.updateValue(method, forKey: userID) == nil { order.append(userID) }
        }
        guard !order.isEmpty else { return }
        let idColumn = SessionSchema.quoted(self.settings.usersIDColumn)
        let table = SessionSchema.quoted(self.settings.usersTable)
        var start = 0
        while start < order.count {
            let end = min(order.count, start + 30_000)
            var values = ""
            var binds = PostgresBindings(capacity: (end - start) * 2)
            for (index, userID) in order[start..<end].enumerated() {
                if index > 0 { values += "," }
                values += "($\(2 * index + 1)::text,$\(2 * index + 2)::text)"
                binds.append(userID)
                binds.append(changed[userID]!)
            }
            let sql =
                "UPDATE \(table) SET last_auth_method = v.m FROM (VALUES \(values)) AS v(id, m) WHERE \(table).\(idColumn)::text = v.id AND \(table).last_auth_method IS DISTINCT FROM v.m"
            do {
                try await self.execute(PostgresQuery(unsafeSQL: sql, binds: binds))
                if memory.methods.count + (end - start) > LastMethods.maxEntries {
                    memory.methods.removeAll(keepingCapacity: true)
                }
                for userID in order[start..<end] {
                    memory.methods[userID] = changed[userID]
                }
            } catch let error as PSQLError {
                if let state = error.serverInfo?[.sqlState], state == "42P01" || state == "42703" {
                    memory.disabled = true
                    self.logger.warning(
                        "users.last_auth_method is not kept: the users table or a column is missing",
                        metadata: ["table": "\(self.settings.usersTable)", "sqlstate": "\(state)"]
                    )
                } else {
                    self.logger.debug("last_auth_method update failed", metadata: ["error": "\(Self.describe(error))"])
                }
                return
            } catch {
                self.logger.debug("last_auth_method update failed", metadata: ["error": "\(Self.describe(error))"])
                return
            }
            start = end
        }
    }

    // MARK: - Logging

    private func logTransition(from last: inout AuditWriterStateMachine.State, to state: AuditWriterStateMachine.State)
    {
        func name(_ state: AuditWriterStateMachine.State) -> String {
            switch state {
            case .initial: "initial"
            case .healthy: "healthy"
            case .spilling: "spilling"
            case .replaying: "replaying"
            case .draining: "draining"
            case .finished: "finished"
            }
        }
        let old = name(last)
        let new = name(state)
        last = state
        guard old != new else { return }
        if new == "spilling" {
            self.logger.warning("audit writer spilling to file", metadata: ["path": "\(self.settings.spillPath)"])
        } else {
            self.logger.info("audit writer \(new)", metadata: ["previous": "\(old)"])
        }
    }

    private func logWriteFailure(_ error: any Error, events: Int?) {
        var metadata: Logger.Metadata = ["error": "\(Self.describe(error))"]
        if let events { metadata["events"] = "\(events)" }
        self.logger.warning("audit write failed", metadata: metadata)
    }

    /// A short description of a database error: its SQLSTATE and message, or the error's kind;
    /// never the query's binds or the connection's password.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let state = error.serverInfo?[.sqlState], let message = error.serverInfo?[.message] {
                return "\(state): \(message)"
            }
            return "\(error.code)"
        }
        return "\(String(describing: error).prefix(200))"
    }
}

/// An insert took longer than ``AuditLog/Settings/writeTimeout``.
struct AuditWriteTimeout: Error, CustomStringConvertible {
    var description: String { "audit write timed out" }
}
