import NIOCore
import Testing

@testable import AuthGateCore

private typealias Machine = AuditWriterStateMachine
private typealias Action = AuditWriterStateMachine.Action

/// A writer without I/O: a queue, held events, a spill file of lines, and a "database" that
/// keeps rows in insertion order and ignores ids it has (`ON CONFLICT DO NOTHING`). It carries
/// out the machine's actions exactly as the real loop does.
private struct Simulation {
    static let bytesPerLine: Int64 = 10

    var machine: Machine
    var queue: [Int] = []
    var held: [Int] = []
    var file: [Int] = []
    var rows: [Int] = []
    var rowIDs: Set<Int> = []
    /// Inserts of an id already there (no-ops).
    var duplicateInserts = 0
    var databaseUp = true
    var diskUp = true
    /// The next successful insert commits but reports a failure (the acknowledgement is lost).
    var loseNextAcknowledgement = false
    var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
    var nextEvent = 0
    var lastAction: Action = .wait(until: .uptimeNanoseconds(0))
    var lost: Int? = nil
    var spilledEvents = 0
    var replayedEvents = 0

    init(batchSize: Int = 10, capacity: Int = 100, fileAtStart: [Int] = []) {
        self.machine = Machine(
            configuration: .init(
                batchSize: batchSize,
                queueCapacity: capacity,
                flushInterval: .milliseconds(200),
                retryInterval: .milliseconds(1000)
            )
        )
        self.file = fileAtStart
        self.lastAction = self.machine.start(
            spillFileBytes: Int64(fileAtStart.count) * Self.bytesPerLine,
            now: self.now
        )
        self.run()
    }

    var waitingUntil: NIODeadline? {
        if case .wait(let until) = self.lastAction { return until }
        return nil
    }

    var isFinished: Bool {
        if case .finish = self.lastAction { return true }
        return false
    }

    /// Records `count` events; wakes the writer as `record` does when a batch is full.
    mutating func record(_ count: Int) {
        for _ in 0..<count {
            self.queue.append(self.nextEvent)
            self.nextEvent += 1
            if self.queue.count == self.machine.configuration.batchSize, self.waitingUntil != nil {
                self.lastAction = self.machine.wake(queued: self.queue.count, now: self.now)
                self.run()
            }
        }
    }

    /// Lets time pass until the writer's deadline (or by `amount`) and wakes it.
    mutating func tick(_ amount: TimeAmount? = nil) {
        guard let until = self.waitingUntil else { return }
        self.now = amount.map { self.now + $0 } ?? max(self.now, until)
        self.lastAction = self.machine.wake(queued: self.queue.count, now: self.now)
        self.run()
    }

    mutating func shutdown(timeout: TimeAmount = .seconds(5)) {
        self.lastAction = self.machine.shutdown(queued: self.queue.count, now: self.now, deadline: self.now + timeout)
        self.run()
        // A failing disk makes the machine wait for a retry; let the time pass.
        var guardCount = 0
        while let until = self.waitingUntil, guardCount < 1000 {
            self.now = until
            self.lastAction = self.machine.wake(queued: self.queue.count, now: self.now)
            self.run()
            guardCount += 1
        }
    }

    private mutating func take(_ count: Int) {
        precondition(count <= self.queue.count, "take \(count) of \(self.queue.count)")
        self.held += self.queue.prefix(count)
        self.queue.removeFirst(count)
        precondition(
            self.machine.heldEvents == self.held.count,
            "held \(self.held.count) vs \(self.machine.heldEvents)"
        )
    }

    /// Inserts `ids`; false when the database is down (or the acknowledgement was lost).
    private mutating func insert(_ ids: [Int]) -> Bool {
        guard self.databaseUp else { return false }
        for id in ids {
            if self.rowIDs.insert(id).inserted {
                self.rows.append(id)
            } else {
                self.duplicateInserts += 1
            }
        }
        if self.loseNextAcknowledgement {
            self.loseNextAcknowledgement = false
            return false
        }
        return true
    }

    /// Carries out actions until the machine waits or finishes.
    mutating func run() {
        var steps = 0
        while true {
            steps += 1
            precondition(steps < 100_000, "no progress")
            switch self.lastAction {
            case .wait:
                return
            case .finish(let lostEvents):
                self.lost = lostEvents
                return
            case .insert(let take):
                self.take(take)
                if self.insert(self.held) {
                    self.held = []
                    self.lastAction = self.machine.inserted(queued: self.queue.count, now: self.now)
                } else {
                    self.lastAction = self.machine.insertFailed(queued: self.queue.count, now: self.now)
                }
            case .spill(let take):
                self.take(take)
                if self.diskUp {
                    self.file += self.held
                    self.spilledEvents += self.held.count
                    let bytes = Int64(self.held.count) * Self.bytesPerLine
                    self.held = []
                    self.lastAction = self.machine.spilled(bytes: bytes, queued: self.queue.count, now: self.now)
                } else {
                    self.lastAction = self.machine.spillFailed(queued: self.queue.count, now: self.now)
                }
            case .replay(let offset):
                let start = Int(offset / Self.bytesPerLine)
                let end = min(self.file.count, start + self.machine.configuration.batchSize)
                let chunk = Array(self.file[start..<end])
                if self.insert(chunk) {
                    self.replayedEvents += chunk.count
                    self.lastAction = self.machine.replayed(
                        nextOffset: Int64(end) * Self.bytesPerLine,
                        queued: self.queue.count,
                        now: self.now
                    )
                } else {
                    self.lastAction = self.machine.replayFailed(queued: self.queue.count, now: self.now)
                }
            case .truncateSpill:
                if self.diskUp {
                    self.file = []
                    self.lastAction = self.machine.truncated(queued: self.queue.count, now: self.now)
                } else {
                    self.lastAction = self.machine.truncateFailed(queued: self.queue.count, now: self.now)
                }
            }
        }
    }
}

@Suite("AuditWriterStateMachine")
struct AuditWriterStateMachineTests {
    @Test func fullBatchesAreWrittenAtOnceAndAPartialOneAfterTheFlushInterval() {
        var sim = Simulation(batchSize: 10)
        #expect(sim.machine.state == .healthy)
        sim.record(25)
        #expect(sim.rows == Array(0..<20))
        #expect(sim.queue.count == 5)
        sim.tick(.milliseconds(50))
        #expect(sim.rows.count == 20, "a partial batch waits for the flush interval")
        sim.tick()
        #expect(sim.rows == Array(0..<25))
        #expect(sim.queue.isEmpty)
        #expect(sim.file.isEmpty)
    }

    @Test func anIdleWriterWaitsAFlushIntervalAtATime() {
        var sim = Simulation()
        let first = sim.waitingUntil!
        sim.tick()
        let second = sim.waitingUntil!
        #expect(second == first + .milliseconds(200))
    }

    @Test func aFailedInsertSpillsAndLaterEventsFollowItIntoTheFile() {
        var sim = Simulation(batchSize: 10)
        sim.record(10)
        sim.databaseUp = false
        sim.record(10)
        guard case .spilling = sim.machine.state else {
            Issue.record("expected spilling, got \(sim.machine.state)")
            return
        }
        #expect(sim.file == Array(10..<20))
        // While the file is not empty nothing goes to the database, even a partial batch.
        sim.record(3)
        sim.tick(.milliseconds(300))
        #expect(sim.file == Array(10..<23))
        #expect(sim.rows == Array(0..<10))
    }

    @Test func theFileIsReplayedInOrderWhenTheDatabaseIsBackThenTruncated() {
        var sim = Simulation(batchSize: 10)
        sim.databaseUp = false
        sim.record(35)
        sim.tick()
        #expect(sim.file == Array(0..<35))
        // A retry while still down: stays spilling, offset unchanged.
        sim.tick(.milliseconds(1000))
        #expect(sim.machine.replayOffset == 0)
        sim.record(4)
        sim.databaseUp = true
        for _ in 0..<10 { sim.tick() }
        #expect(sim.rows == Array(0..<39))
        #expect(sim.file.isEmpty)
        #expect(sim.machine.state == .healthy)
        #expect(sim.spilledEvents == 39)
        #expect(sim.replayedEvents == sim.spilledEvents)
        // Back to direct writes.
        sim.record(10)
        #expect(sim.rows == Array(0..<49))
        #expect(sim.file.isEmpty)
    }

    @Test func eventsRecordedDuringAReplayStayBehindTheFile() {
        var sim = Simulation(batchSize: 10, capacity: 1000)
        sim.databaseUp = false
        sim.record(50)
        sim.databaseUp = true
        // The retry is due; the replay goes chunk by chunk. Record while it runs.
        sim.now = sim.now + .seconds(2)
        sim.lastAction = sim.machine.wake(queued: sim.queue.count, now: sim.now)
        // Step manually: one replay chunk, then new events.
        #expect(sim.lastAction == .replay(offset: 0))
        sim.queue.append(contentsOf: 50..<60)
        sim.nextEvent = 60
        sim.run()
        sim.record(5)
        sim.tick()
        #expect(sim.rows == Array(0..<65))
        #expect(sim.file.isEmpty)
    }

    @Test func aLostAcknowledgementIsNotADuplicate() {
        var sim = Simulation(batchSize: 10)
        sim.loseNextAcknowledgement = true
        sim.record(10)
        // The rows are in; the writer believes the insert failed and spilled the batch.
        #expect(sim.rows == Array(0..<10))
        #expect(sim.file == Array(0..<10))
        sim.record(5)
        for _ in 0..<5 { sim.tick() }
        #expect(sim.rows == Array(0..<15))
        #expect(sim.duplicateInserts == 10)
        #expect(sim.file.isEmpty)
        #expect(sim.machine.state == .healthy)
    }

    @Test func aSpillFileLeftByAPreviousRunIsReplayedFirst() {
        var sim = Simulation(batchSize: 10, fileAtStart: Array(1000..<1025))
        #expect(sim.rows == Array(1000..<1025))
        sim.record(5)
        sim.tick()
        #expect(sim.rows == Array(1000..<1025) + Array(0..<5))
        #expect(sim.file.isEmpty)
        #expect(sim.machine.state == .healthy)
    }

    @Test func aSpillFileFromAPreviousRunWithTheDatabaseDownWaitsForIt() {
        var machine = Machine(
            configuration: .init(
                batchSize: 10,
                queueCapacity: 100,
                flushInterval: .milliseconds(200),
                retryInterval: .seconds(1)
            )
        )
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        #expect(machine.start(spillFileBytes: 100, now: now) == .replay(offset: 0))
        let next = machine.replayFailed(queued: 3, now: now)
        #expect(next == .wait(until: now + .milliseconds(200)))
        // The partial batch goes behind the file.
        #expect(machine.wake(queued: 3, now: now + .milliseconds(200)) == .spill(take: 3))
        #expect(
            machine.spilled(bytes: 30, queued: 0, now: now + .milliseconds(200))
                == .wait(until: now + .milliseconds(400))
        )
        #expect(machine.wake(queued: 0, now: now + .seconds(1)) == .replay(offset: 0))
        #expect(machine.replayed(nextOffset: 100, queued: 0, now: now + .seconds(1)) == .replay(offset: 100))
        #expect(machine.replayed(nextOffset: 130, queued: 0, now: now + .seconds(1)) == .truncateSpill)
        #expect(
            machine.truncated(queued: 0, now: now + .seconds(1)) == .wait(until: now + .seconds(1) + .milliseconds(200))
        )
        #expect(machine.state == .healthy)
    }

    @Test func anOverflowingQueueIsSpilledInOrderAndCaughtUpThroughTheFile() {
        var sim = Simulation(batchSize: 10, capacity: 20)
        // The writer is busy (not waiting): the queue fills past its capacity.
        sim.queue = Array(0..<30)
        sim.nextEvent = 30
        sim.lastAction = sim.machine.wake(queued: 30, now: sim.now)
        #expect(sim.lastAction == .spill(take: 30))
        sim.run()
        #expect(sim.rows == Array(0..<30))
        #expect(sim.file.isEmpty)
        #expect(sim.machine.state == .healthy)
        #expect(sim.spilledEvents == 30)
    }

    @Test func shutdownInsertsWhatIsQueued() {
        var sim = Simulation(batchSize: 10)
        sim.record(25)
        sim.shutdown()
        #expect(sim.isFinished)
        #expect(sim.lost == 0)
        #expect(sim.rows == Array(0..<25))
        #expect(sim.machine.state == .finished)
    }

    @Test func shutdownWithTheDatabaseDownSpillsWhatIsQueued() {
        var sim = Simulation(batchSize: 10)
        sim.record(5)
        sim.databaseUp = false
        sim.shutdown()
        #expect(sim.lost == 0)
        #expect(sim.file == Array(0..<5))
    }

    @Test func shutdownDuringAReplayPutsTheQueueBehindTheFile() {
        var sim = Simulation(batchSize: 10, capacity: 1000)
        sim.databaseUp = false
        sim.record(30)
        sim.databaseUp = true
        sim.now = sim.now + .seconds(2)
        sim.lastAction = sim.machine.wake(queued: 0, now: sim.now)
        #expect(sim.lastAction == .replay(offset: 0))
        // One chunk is replayed, then shutdown arrives with events queued.
        sim.queue = Array(30..<33)
        let offset: Int64 = 10 * Simulation.bytesPerLine
        sim.rows += Array(0..<10)
        sim.rowIDs.formUnion(0..<10)
        _ = sim.machine.replayed(nextOffset: offset, queued: 3, now: sim.now)
        sim.lastAction = sim.machine.shutdown(queued: 3, now: sim.now, deadline: sim.now + .seconds(5))
        #expect(sim.lastAction == .spill(take: 3))
        sim.run()
        #expect(sim.isFinished)
        #expect(
            sim.file == Array(0..<33),
            "the file keeps everything not known replayed; replayed lines are no-ops next time"
        )
    }

    @Test func eventsThatCanBeStoredNowhereAreReportedLostAtTheDeadline() {
        var sim = Simulation(batchSize: 10)
        sim.databaseUp = false
        sim.diskUp = false
        sim.record(10)
        #expect(sim.machine.heldEvents == 10)
        sim.shutdown(timeout: .seconds(3))
        #expect(sim.lost == 10)
    }

    @Test func aBrokenDiskWithAnEmptyFileRetriesTheDatabase() {
        var sim = Simulation(batchSize: 10)
        sim.databaseUp = false
        sim.diskUp = false
        sim.record(10)
        #expect(sim.held == Array(0..<10))
        sim.databaseUp = true
        sim.record(3)
        sim.tick(.seconds(2))
        for _ in 0..<3 { sim.tick() }
        #expect(sim.rows == Array(0..<13))
        #expect(sim.held.isEmpty)
        #expect(sim.machine.state == .healthy)
    }

    /// Random traffic, outages, lost acknowledgements and disk failures: at the end every event
    /// is a row exactly once, in the order it was recorded.
    @Test(arguments: 0..<40)
    func randomOutagesLoseAndDuplicateNothing(seed: Int) {
        var rng = SplitMix(seed: UInt64(seed) &+ 1)
        var sim = Simulation(batchSize: 1 + Int(rng.next() % 12), capacity: 16 + Int(rng.next() % 40))
        for _ in 0..<300 {
            switch rng.next() % 10 {
            case 0:
                sim.databaseUp.toggle()
            case 1:
                sim.loseNextAcknowledgement = true
            case 2:
                sim.diskUp = rng.next() % 4 != 0
            case 3, 4:
                sim.tick()
            case 5:
                sim.tick(.milliseconds(Int64(rng.next() % 1500)))
            default:
                sim.record(Int(rng.next() % 15))
            }
        }
        sim.databaseUp = true
        sim.diskUp = true
        sim.loseNextAcknowledgement = false
        for _ in 0..<200 where !(sim.queue.isEmpty && sim.held.isEmpty && sim.file.isEmpty) {
            sim.tick(.seconds(1))
        }
        #expect(sim.rows == Array(0..<sim.nextEvent))
        #expect(sim.file.isEmpty)
        #expect(sim.held.isEmpty)
        #expect(sim.machine.state == .healthy)
        #expect(sim.spilledEvents == sim.replayedEvents)
        sim.shutdown()
        #expect(sim.lost == 0)
    }
}

/// A small deterministic generator for the randomized test.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
