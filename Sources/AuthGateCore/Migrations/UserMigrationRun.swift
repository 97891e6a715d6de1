/// The batch loop of `authgate users migrate`, as a state machine: the I/O side runs the
/// actions it returns and reports back.
///
/// ```
/// idle ──start()──▶ running ──batchCommitted(n > 0)──▶ running (next batch)
///                      │  ├──batchCommitted(n > 0), maxBatches reached──▶ finished
///                      │  └──batchCommitted(n > 0), test hook reached──▶ stopped (exit code)
///                      └──batchCommitted(0)──▶ finished
/// ```
///
/// Each batch is one transaction that takes up to `batchSize` users in the source status (rows
/// locked by others are skipped). A run with ``maxBatches`` (the CLI's `--batch-size N` without
/// `--all`: one batch of N, the rollout guide's canary and steps) ends after that many committed
/// batches; without it the loop ends on the first empty batch (`--all`). A run that was killed
/// resumes where the last committed batch left off.
///
/// Test hook: with ``crashAfterBatches`` set (the CLI reads `AUTHGATE_TEST_CRASH_AFTER_BATCHES`)
/// the run stops as if the process had crashed right after that many committed batches; the CLI
/// exits with ``crashExitCode`` without a summary. It exists for the end-to-end test of a
/// crash between batches and is not meant for operators.
public struct UserMigrationRun: Sendable {
    /// What the I/O side does next.
    public enum Action: Sendable, Hashable {
        /// Run batch `number` (1-based) of at most `limit` users in its own transaction.
        case runBatch(number: Int, limit: Int)
        /// The test hook fired: exit with `exitCode` now.
        case simulateCrash(exitCode: Int32)
        /// No user is left in the source status (or all left are locked by others).
        case finish(Totals)
    }

    /// What the run has committed so far.
    public struct Totals: Sendable, Hashable {
        /// Committed non-empty batches.
        public var batches: Int = 0
        /// Users moved to the target status.
        public var users: Int = 0
        public init() {}
    }

    private enum State: Sendable {
        case idle
        case running(Totals)
        case stopped(Totals)
        case finished(Totals)
    }

    /// The exit code of the crash test hook (`EX_SOFTWARE`).
    public static let crashExitCode: Int32 = 70

    public let direction: UserMigrationDirection
    public let batchSize: Int
    /// The run finishes after this many committed batches; `nil` runs until no user is left.
    public let maxBatches: Int?
    /// Test hook: stop after this many committed batches.
    public let crashAfterBatches: Int?
    private var state: State = .idle

    /// - Precondition: `batchSize > 0`, and `maxBatches`, if given, `> 0`.
    public init(
        direction: UserMigrationDirection,
        batchSize: Int,
        maxBatches: Int? = nil,
        crashAfterBatches: Int? = nil
    ) {
        precondition(batchSize > 0, "batch size must be positive")
        precondition(maxBatches.map { $0 > 0 } ?? true, "the batch limit must be positive")
        self.direction = direction
        self.batchSize = batchSize
        self.maxBatches = maxBatches
        self.crashAfterBatches = crashAfterBatches
    }

    /// What has been committed.
    public var totals: Totals {
        switch self.state {
        case .idle: return Totals()
        case .running(let totals), .stopped(let totals), .finished(let totals): return totals
        }
    }

    /// The first action.
    public mutating func start() -> Action {
        guard case .idle = self.state else { preconditionFailure("start() called twice") }
        self.state = .running(Totals())
        return .runBatch(number: 1, limit: self.batchSize)
    }

    /// The batch asked for by the last ``Action/runBatch(number:limit:)`` committed, moving
    /// `users` users.
    public mutating func batchCommitted(users: Int) -> Action {
        guard case .running(var totals) = self.state else {
            preconditionFailure("batchCommitted(users:) without a running batch")
        }
        precondition(users >= 0 && users <= self.batchSize, "a batch cannot move \(users) users")
        if users == 0 {
            self.state = .finished(totals)
            return .finish(totals)
        }
        totals.batches += 1
        totals.users += users
        if let limit = self.crashAfterBatches, totals.batches >= limit {
            self.state = .stopped(totals)
            return .simulateCrash(exitCode: Self.crashExitCode)
        }
        if let limit = self.maxBatches, totals.batches >= limit {
            self.state = .finished(totals)
            return .finish(totals)
        }
        self.state = .running(totals)
        return .runBatch(number: totals.batches + 1, limit: self.batchSize)
    }
}

/// Text rendering of the run's output.
public enum UserMigrationOutput {
    /// A one-line progress bar for a terminal, e.g. `[#########           ]  10/25 users (40%)`.
    /// `total` is the count at the start; `done` past it (users added meanwhile) shows 100 %.
    public static func progressBar(done: Int, total: Int, width: Int = 30) -> String {
        let fraction = total > 0 ? min(1.0, Double(done) / Double(total)) : 1.0
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        let percent = Int((fraction * 100).rounded(.down))
        let totalText = String(total)
        let doneText = String(done)
        let padded = String(repeating: " ", count: max(0, totalText.count - doneText.count)) + doneText
        return "[\(bar)] \(padded)/\(totalText) users (\(percent)%)"
    }

    /// The line that ends a run: what to run next, given the users `left` in the run's source
    /// status (soft-deleted ones not counted) and the batch size the run used.
    public static func nextStep(direction: UserMigrationDirection, left: Int64, batchSize: Int) -> String {
        switch (direction, left > 0) {
        case (.migrate, true):
            return
                "next: watch the dashboard, then `authgate users migrate --batch-size \(batchSize)` (\(left) users still pending), or `--all` for the rest"
        case (.migrate, false):
            return
                "every user is migrated; to undo: `authgate users migrate --rollback --batch-size \(batchSize)` (or `--rollback --all`)"
        case (.rollback, true):
            return
                "next: `authgate users migrate --rollback --batch-size \(batchSize)` (\(left) users still migrated), or `--rollback --all` for the rest"
        case (.rollback, false):
            return "no user is migrated any more; to migrate again: `authgate users migrate --batch-size \(batchSize)`"
        }
    }

    /// The counts per status in the shape of psql's output of
    /// `SELECT migration_status, COUNT(*) FROM users GROUP BY migration_status`.
    public static func statusTable(
        _ rows: [(status: String, count: Int64)],
        statusColumn: String = "migration_status"
    )
        -> String
    {
        let header = (statusColumn, "count")
        let statusWidth = max(header.0.count, rows.map(\.status.count).max() ?? 0)
        let countWidth = max(header.1.count, rows.map { String($0.count).count }.max() ?? 0)
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - text.count))
            return right ? fill + text : text + fill
        }
        var lines = [
            " \(pad(header.0, statusWidth)) | \(pad(header.1, countWidth))",
            String(repeating: "-", count: statusWidth + 2) + "+" + String(repeating: "-", count: countWidth + 2),
        ]
        for row in rows {
            lines.append(" \(pad(row.status, statusWidth)) | \(pad(String(row.count), countWidth, right: true))")
        }
        lines.append("(\(rows.count) \(rows.count == 1 ? "row" : "rows"))")
        return lines.joined(separator: "\n")
    }
}
