import Testing

@testable import AuthGateCore

@Suite("SharedLockout: the per-account count shared through PostgreSQL")
struct SharedLockoutTests {
    @Test("below max_failures the shared count leaves the local state")
    func belowThreshold() {
        #expect(
            SharedLockout.state(shared: .window(failures: 4, remainingMs: 60_000), local: .open, maxFailures: 5)
                == .open
        )
        #expect(SharedLockout.state(shared: .clear, local: .open, maxFailures: 5) == .open)
    }

    @Test("max_failures in the shared window lock, with Retry-After rounded up from the window's end")
    func atThreshold() {
        #expect(
            SharedLockout.state(shared: .window(failures: 5, remainingMs: 60_000), local: .open, maxFailures: 5)
                == .locked(retryAfterSeconds: 60)
        )
        #expect(
            SharedLockout.state(shared: .window(failures: 9, remainingMs: 1_001), local: .open, maxFailures: 5)
                == .locked(retryAfterSeconds: 2)
        )
        #expect(
            SharedLockout.state(shared: .window(failures: 5, remainingMs: 1), local: .open, maxFailures: 5)
                == .locked(retryAfterSeconds: 1)
        )
    }

    @Test("a shared window that has ended does not lock")
    func endedWindow() {
        #expect(
            SharedLockout.state(shared: .window(failures: 50, remainingMs: 0), local: .open, maxFailures: 5) == .open
        )
        #expect(
            SharedLockout.state(shared: .window(failures: 50, remainingMs: -5), local: .open, maxFailures: 5) == .open
        )
    }

    @Test("the store unavailable: the in-memory count decides (fail open to it, not to nothing)")
    func unavailableFallsBackToLocal() {
        #expect(SharedLockout.state(shared: .unavailable, local: .open, maxFailures: 5) == .open)
        #expect(
            SharedLockout.state(shared: .unavailable, local: .locked(retryAfterSeconds: 30), maxFailures: 5)
                == .locked(retryAfterSeconds: 30)
        )
    }

    @Test("either count locks; both locked: the later end")
    func eitherLocks() {
        #expect(
            SharedLockout.state(shared: .clear, local: .locked(retryAfterSeconds: 7), maxFailures: 5)
                == .locked(retryAfterSeconds: 7)
        )
        #expect(
            SharedLockout.state(
                shared: .window(failures: 2, remainingMs: 9_000),
                local: .locked(retryAfterSeconds: 7),
                maxFailures: 5
            )
                == .locked(retryAfterSeconds: 7)
        )
        #expect(
            SharedLockout.state(
                shared: .window(failures: 5, remainingMs: 9_000),
                local: .locked(retryAfterSeconds: 3),
                maxFailures: 5
            )
                == .locked(retryAfterSeconds: 9)
        )
        #expect(
            SharedLockout.state(
                shared: .window(failures: 5, remainingMs: 2_000),
                local: .locked(retryAfterSeconds: 30),
                maxFailures: 5
            )
                == .locked(retryAfterSeconds: 30)
        )
    }

    @Test("a huge remaining time does not overflow")
    func hugeRemaining() {
        let state = SharedLockout.state(shared: .window(failures: 5, remainingMs: .max), local: .open, maxFailures: 5)
        guard case .locked(let seconds) = state else {
            Issue.record("not locked: \(state)")
            return
        }
        #expect(seconds > 2_000_000)
    }

    @Test("the account digest is stable hex SHA-256, differs per email, and never holds the email")
    func digest() {
        let digest = SharedLockout.accountDigest("alice@example.com")
        #expect(digest == SharedLockout.accountDigest("alice@example.com"))
        #expect(digest.utf8.count == 64)
        #expect(digest.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
        #expect(digest != SharedLockout.accountDigest("bob@example.com"))
        #expect(!digest.contains("alice"))
        // Domain-separated: not the bare SHA-256 of the email.
        #expect(digest != SchemaMigration.checksum(of: "alice@example.com"))
        // A known value, so that every instance (and every release) keys a row the same way.
        #expect(
            SharedLockout.accountDigest("alice@example.com")
                == SchemaMigration.checksum(of: "authgate-lockout-account\u{0}alice@example.com")
        )
    }

    @Test("the failure upsert is one atomic statement that restarts a passed window and returns the count")
    func recordFailureSQL() {
        let sql = SharedLockout.recordFailureSQL
        #expect(sql.hasPrefix("INSERT INTO authgate_lockout_failures AS f (account_key, failures, window_ends_at)"))
        #expect(sql.contains("ON CONFLICT (account_key) DO UPDATE SET"))
        #expect(sql.contains("ELSE 1 END"))
        #expect(sql.contains("RETURNING failures"))
        #expect(sql.contains("$1") && sql.contains("$2::bigint"))
        #expect(!sql.contains("$3"))
        #expect(SharedLockout.selectSQL.contains("WHERE account_key = $1 AND window_ends_at > now()"))
        #expect(SharedLockout.sweepSQL == "DELETE FROM authgate_lockout_failures WHERE window_ends_at <= now()")
    }

    @Test("migration 004 creates the table the statements use")
    func migrationCreatesTable() throws {
        let migration = try #require(SchemaMigration.all.first { $0.version == 4 })
        #expect(migration.name == "lockout_failures")
        #expect(migration.sql.contains("CREATE TABLE IF NOT EXISTS \(SharedLockout.table) ("))
        for column in [
            "account_key text PRIMARY KEY", "failures integer NOT NULL", "window_ends_at timestamptz NOT NULL",
        ] {
            #expect(migration.sql.contains(column), "missing \(column)")
        }
    }
}

@Suite("LockoutStoreStateMachine")
struct LockoutStoreStateMachineTests {
    @Test("an outage is logged once when it starts and once when it ends")
    func outageLoggedOnce() {
        var machine = LockoutStoreStateMachine()
        var actions: [LockoutStoreStateMachine.Action] = []
        for succeeded in [true, false, false, false] {
            actions.append(machine.queryFinished(succeeded: succeeded))
        }
        #expect(actions == [.none, .logUnavailable, .none, .none])
        #expect(machine.state == .unreachable(failedQueries: 3))
        actions = []
        for succeeded in [true, true, false] {
            actions.append(machine.queryFinished(succeeded: succeeded))
        }
        #expect(actions == [.logRecovered(failedQueries: 3), .none, .logUnavailable])
        #expect(machine.state == .unreachable(failedQueries: 1))
    }

    @Test("expired rows are swept at the first recorded failure, then at most once per interval")
    func sweepSchedule() {
        var machine = LockoutStoreStateMachine(configuration: .init(sweepIntervalNanos: 100))
        var due: [Bool] = []
        for now: UInt64 in [5, 6, 104, 105, 200, 10_000] {
            due.append(machine.failureRecorded(now: now))
        }
        #expect(due == [true, false, false, true, false, true])
    }

    @Test("the sweep schedule saturates near the end of the clock")
    func sweepSaturates() {
        var machine = LockoutStoreStateMachine(configuration: .init(sweepIntervalNanos: 100))
        let first = machine.failureRecorded(now: .max - 10)
        let second = machine.failureRecorded(now: .max - 1)
        #expect(first && !second)
    }
}
