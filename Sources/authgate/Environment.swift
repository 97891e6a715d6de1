import AuthGate
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process environment as a dictionary.
func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let string = String(cString: entry)
        if let equals = string.firstIndex(of: "=") {
            result[String(string[..<equals])] = String(string[string.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}

/// Sets up swift-log once for the process.
func bootstrapLogging(level: String, format: String) -> Logger {
    let logLevel = Logger.Level(rawValue: level) ?? .info
    LoggingSystem.bootstrap { label in
        if format == "text" {
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        return JSONLogHandler(label: label, level: logLevel)
    }
    return Logger(label: "authgate")
}
