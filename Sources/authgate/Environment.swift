import AuthGate
import AuthGateCore
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process environment as a dictionary, decoded by ``ConfigLoader/decodeEnvironment(_:)``:
/// a value that is not valid UTF-8 is never repaired into different bytes (the loader refuses it
/// when it is a variable it reads, such as a secret).
func processEnvironment() -> [String: String] {
    var entries: [[UInt8]] = []
    var pointer = environ
    while let entry = pointer.pointee {
        entries.append(
            Array(
                UnsafeBufferPointer(
                    start: UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self),
                    count: strlen(entry)
                )
            )
        )
        pointer += 1
    }
    return ConfigLoader.decodeEnvironment(entries)
}

/// Sets up swift-log once for the process.
func bootstrapLogging(level: LogLevel, format: LogFormat) -> Logger {
    let logLevel = Logger.Level(level)
    LoggingSystem.bootstrap { label in
        if format == .text {
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        return JSONLogHandler(label: label, level: logLevel)
    }
    return Logger(label: "authgate")
}

extension Logger.Level {
    /// The swift-log level of `logging.level`.
    init(_ level: LogLevel) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        case .critical: self = .critical
        }
    }
}
