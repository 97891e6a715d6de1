public import NIOCore

/// The audit writer's decisions, as a state machine without I/O.
///
/// The writer (`AuditLog` in the AuthGate module) is one task that owns the PostgreSQL writes
/// and the spill file. It tells this machine what happened and does what the returned
/// ``Action`` says; the machine never sees an event, only counts, offsets and times, so every
/// path (PostgreSQL going away mid-batch, an acknowledgement lost, a crash with a spill file
/// left behind, shutdown in each mode) is unit-tested without a database.
///
/// ## The I/O loop's part
///
/// The loop keeps the *held* events: events it took from the queue and has not stored yet.
/// ``Action/insert(take:)`` and ``Action/spill(take:)`` move `take` events from the head of the
/// queue to the end of the held ones, then insert all held events (multi-row, `ON CONFLICT
/// (event_id) DO NOTHING`), respectively append all of them to the spill file (whole lines,
/// then `fsync`). On success the held events are dropped; on failure they stay held (after a
/// failed insert the very next action spills them). `queued` is always the number of events in
/// the queue now, overflow included.
///
/// ## Ordering
///
/// Events reach PostgreSQL in the order they were recorded:
/// - while the spill file is not empty, nothing is inserted directly: new events are appended
///   behind what is in the file (``State/spilling(retryAt:)``, ``State/replaying``);
/// - the file is replayed from its start, chunk by chunk, and only when the replay has reached
///   its end is it truncated and the queue (all newer than the file) written directly again;
/// - a batch whose insert failed is appended *before* the events still queued.
///
/// ## Exactly once
///
/// An event is removed from the held events only when PostgreSQL acknowledged it or it is in
/// the spill file (`fsync`ed). An event can be inserted twice (the acknowledgement of a
/// committed insert was lost, or the process died between replaying the file and truncating
/// it) but never twice as a row: every insert is `ON CONFLICT (event_id) DO NOTHING`.
public struct AuditWriterStateMachine: Sendable {
    /// The writer's settings (`audit.*`).
    public struct Configuration: Sendable, Equatable {
        /// Rows per insert (`audit.batch_size`).
        public var batchSize: Int
        /// Events the queue holds before the rest overflow (`audit.queue_capacity`).
        public var queueCapacity: Int
        /// A partial batch is written after this long (`audit.flush_interval_ms`).
        public var flushInterval: TimeAmount
        /// A database that failed is tried again after this long (`audit.retry_interval_ms`).
        public var retryInterval: TimeAmount

        public init(batchSize: Int, queueCapacity: Int, flushInterval: TimeAmount, retryInterval: TimeAmount) {
            precondition(batchSize > 0 && queueCapacity > 0)
            self.batchSize = batchSize
            self.queueCapacity = queueCapacity
            self.flushInterval = flushInterval
            self.retryInterval = retryInterval
        }
    }

    /// Where the writer is.
    public enum State: Sendable, Equatable {
        /// Not started.
        case initial
        /// The spill file is empty: events are inserted directly, in batches.
        case healthy
        /// PostgreSQL failed (or the queue overflowed and the file is behind): events go to the
        /// spill file; the file is replayed from `retryAt`.
        case spilling(retryAt: NIODeadline)
        /// PostgreSQL answers: the spill file is being replayed; new events stay queued (or, past
        /// half the queue's capacity, are appended to the file).
        case replaying
        /// Shutdown: what is queued is inserted (healthy database, empty file) or spilled, until
        /// the deadline; then everything left is spilled.
        case draining(deadline: NIODeadline)
        /// Done; the loop ends.
        case finished
    }

    /// What the I/O loop does next.
    public enum Action: Sendable, Equatable {
        /// Sleep until woken (`record` filled a batch) or `until`, then call ``wake(queued:now:)``.
        case wait(until: NIODeadline)
        /// Move `take` queued events to the held ones, insert every held event; report with
        /// ``inserted(queued:now:)`` or ``insertFailed(queued:now:)``.
        case insert(take: Int)
        /// Move `take` queued events to the held ones, append every held event to the spill
        /// file and `fsync`; report with ``spilled(bytes:queued:now:)`` or
        /// ``spillFailed(queued:now:)``.
        case spill(take: Int)
        /// Read up to a batch of lines from the spill file at `offset` and insert them; report
        /// with ``replayed(nextOffset:queued:now:)`` (the offset after the lines read) or
        /// ``replayFailed(queued:now:)``.
        case replay(offset: Int64)
        /// Truncate the spill file to zero bytes; report with ``truncated(queued:now:)`` or
        /// ``truncateFailed(queued:now:)``.
        case truncateSpill
        /// Stop. `lostEvents` held events could be stored nowhere (database and disk both
        /// failed until the shutdown deadline): log them as lost.
        case finish(lostEvents: Int)
    }

    public let configuration: Configuration
    public private(set) var state: State = .initial
    /// Bytes in the spill file (as far as this process knows: its size at start plus what it
    /// appended).
    public private(set) var spillBytes: Int64 = 0
    /// How far the replay has come; lines before it are in PostgreSQL.
    public private(set) var replayOffset: Int64 = 0
    /// Events the loop holds (taken from the queue, stored nowhere yet).
    public private(set) var heldEvents = 0
    /// When a partial batch is due.
    private var flushDeadline: NIODeadline = .uptimeNanoseconds(0)
    /// Whether the spill file could not be written the last time it was tried.
    private var spillBroken = false
    /// During draining: whether PostgreSQL failed, so the rest goes to the file.
    private var databaseFailed = false

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: - Events

    /// The writer starts; `spillFileBytes` is the size of the spill file a previous run left
    /// (after any torn last line was cut off).
    public mutating func start(spillFileBytes: Int64, now: NIODeadline) -> Action {
        precondition(self.state == .initial, "started twice")
        self.spillBytes = spillFileBytes
        self.replayOffset = 0
        self.flushDeadline = now + self.configuration.flushInterval
        if spillFileBytes > 0 {
            self.state = .replaying
            return .replay(offset: 0)
        }
        self.state = .healthy
        return .wait(until: self.flushDeadline)
    }

    /// The loop woke up (a full batch was recorded, or the wait's deadline passed).
    public mutating func wake(queued: Int, now: NIODeadline) -> Action {
        self.next(queued: queued, now: now)
    }

    /// Shutdown was requested: drain until `deadline`.
    public mutating func shutdown(queued: Int, now: NIODeadline, deadline: NIODeadline) -> Action {
        switch self.state {
        case .draining, .finished:
            return self.next(queued: queued, now: now)
        case .initial:
            self.state = .finished
            return .finish(lostEvents: 0)
        case .healthy, .spilling, .replaying:
            self.state = .draining(deadline: deadline)
            return self.next(queued: queued, now: now)
        }
    }

    /// The held events were inserted (or were already there).
    public mutating func inserted(queued: Int, now: NIODeadline) -> Action {
        self.heldEvents = 0
        self.flushDeadline = now + self.configuration.flushInterval
        return self.next(queued: queued, now: now)
    }

    /// The insert failed: PostgreSQL is down or refused. Whether it committed is unknown; the
    /// held events are spilled (and, if it did commit, replayed as no-ops).
    public mutating func insertFailed(queued: Int, now: NIODeadline) -> Action {
        self.flushDeadline = now + self.configuration.flushInterval
        switch self.state {
        case .draining:
            self.databaseFailed = true
            return self.emit(.spill(take: queued))
        case .healthy, .spilling, .replaying:
            self.state = .spilling(retryAt: now + self.configuration.retryInterval)
            // The failed batch, then everything queued behind it: order is kept.
            return self.emit(.spill(take: queued))
        case .initial, .finished:
            preconditionFailure("insert reported in state \(self.state)")
        }
    }

    /// The held events are in the spill file, `bytes` long.
    public mutating func spilled(bytes: Int64, queued: Int, now: NIODeadline) -> Action {
        self.heldEvents = 0
        self.spillBytes += bytes
        self.spillBroken = false
        self.flushDeadline = now + self.configuration.flushInterval
        if self.state == .healthy {
            // The queue overflowed while PostgreSQL is up: catch up through the file.
            self.state = .replaying
        }
        return self.next(queued: queued, now: now)
    }

    /// The spill file could not be written (disk full, permissions). The events stay held and
    /// both the file and PostgreSQL are tried again after the retry interval.
    public mutating func spillFailed(queued: Int, now: NIODeadline) -> Action {
        self.spillBroken = true
        self.flushDeadline = now + self.configuration.flushInterval
        switch self.state {
        case .draining(let deadline):
            if now >= deadline {
                self.state = .finished
                return .finish(lostEvents: self.heldEvents)
            }
            return .wait(until: min(deadline, now + self.configuration.retryInterval))
        case .healthy, .spilling, .replaying:
            self.state = .spilling(retryAt: now + self.configuration.retryInterval)
            return self.next(queued: queued, now: now)
        case .initial, .finished:
            preconditionFailure("spill reported in state \(self.state)")
        }
    }

    /// A chunk of the spill file is in PostgreSQL; `nextOffset` is where the next one starts.
    public mutating func replayed(nextOffset: Int64, queued: Int, now: NIODeadline) -> Action {
        precondition(nextOffset >= self.replayOffset)
        self.replayOffset = nextOffset
        if nextOffset > self.spillBytes {
            // The file is longer than this process knew (it cannot be, but never read past
            // what is replayed as if it were not there).
            self.spillBytes = nextOffset
        }
        return self.next(queued: queued, now: now)
    }

    /// Replaying a chunk failed (PostgreSQL is still or again down): wait for the retry
    /// interval; the replay resumes at the same offset.
    public mutating func replayFailed(queued: Int, now: NIODeadline) -> Action {
        switch self.state {
        case .replaying:
            self.state = .spilling(retryAt: now + self.configuration.retryInterval)
        case .draining:
            self.databaseFailed = true
        case .initial, .healthy, .spilling, .finished:
            preconditionFailure("replay reported in state \(self.state)")
        }
        return self.next(queued: queued, now: now)
    }

    /// The spill file is empty again.
    public mutating func truncated(queued: Int, now: NIODeadline) -> Action {
        self.spillBytes = 0
        self.replayOffset = 0
        if self.state == .replaying {
            self.state = .healthy
        }
        return self.next(queued: queued, now: now)
    }

    /// Truncating failed: the whole file is replayed; retry later (a replay from the start
    /// would only insert no-ops).
    public mutating func truncateFailed(queued: Int, now: NIODeadline) -> Action {
        if self.state == .replaying {
            self.state = .spilling(retryAt: now + self.configuration.retryInterval)
        }
        return self.next(queued: queued, now: now)
    }

    // MARK: - The decision

    private var fileIsReplayed: Bool { self.spillBytes > 0 && self.replayOffset >= self.spillBytes }

    /// Whether the queue should be written now: a full batch, a partial one whose time has
    /// come, or an overflow.
    private func batchDue(queued: Int, now: NIODeadline) -> Bool {
        queued >= self.configuration.batchSize || (queued > 0 && now >= self.flushDeadline)
            || queued > self.configuration.queueCapacity
    }

    private mutating func idleDeadline(now: NIODeadline) -> NIODeadline {
        if self.flushDeadline <= now {
            self.flushDeadline = now + self.configuration.flushInterval
        }
        return self.flushDeadline
    }

    /// Counts the events an action moves to the held ones.
    private mutating func emit(_ action: Action) -> Action {
        switch action {
        case .insert(let take), .spill(let take):
            self.heldEvents += take
        case .wait, .replay, .truncateSpill, .finish:
            break
        }
        return action
    }

    private mutating func next(queued: Int, now: NIODeadline) -> Action {
        self.emit(self.decide(queued: queued, now: now))
    }

    private mutating func decide(queued: Int, now: NIODeadline) -> Action {
        let take = queued
        switch self.state {
        case .initial:
            preconditionFailure("not started")

        case .finished:
            return .finish(lostEvents: self.heldEvents)

        case .healthy:
            if queued > self.configuration.queueCapacity {
                // Overflow: spill everything in order and catch up through the file.
                return .spill(take: take)
            }
            if self.batchDue(queued: queued, now: now) {
                return .insert(take: min(queued, self.configuration.batchSize))
            }
            return .wait(until: self.idleDeadline(now: now))

        case .spilling(let retryAt):
            if self.spillBroken {
                guard now >= retryAt else { return .wait(until: retryAt) }
                if self.spillBytes == 0 {
                    // Nothing in the file to keep order with: try PostgreSQL with what is held.
                    self.state = .healthy
                    self.spillBroken = false
                    return .insert(take: 0)
                }
                return .spill(take: take)
            }
            if self.batchDue(queued: queued, now: now) {
                return .spill(take: take)
            }
            if now >= retryAt {
                self.state = .replaying
                return self.fileIsReplayed || self.spillBytes == 0 ? .truncateSpill : .replay(offset: self.replayOffset)
            }
            return .wait(until: min(retryAt, self.idleDeadline(now: now)))

        case .replaying:
            if self.fileIsReplayed || self.spillBytes == 0 {
                return .truncateSpill
            }
            if queued > self.configuration.queueCapacity / 2 {
                // The queue would fill before the replay ends: move it behind the file.
                return .spill(take: take)
            }
            return .replay(offset: self.replayOffset)

        case .draining(let deadline):
            if queued == 0 && self.heldEvents == 0 {
                // A spill file not fully replayed stays: it is replayed at the next start.
                self.state = .finished
                return .finish(lostEvents: 0)
            }
            if self.spillBroken && self.spillBytes == 0 && !self.databaseFailed && now < deadline {
                // The disk failed, the file is empty: PostgreSQL may still take them.
                return .insert(take: 0)
            }
            if self.spillBytes > 0 || self.databaseFailed || self.spillBroken || now >= deadline {
                // Behind the file (order), or PostgreSQL failed, or time is up.
                return .spill(take: take)
            }
            return .insert(take: min(queued, self.configuration.batchSize))
        }
    }
}
