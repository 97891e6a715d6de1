import AuthGateCore
public import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler that writes one JSON object per line to standard error:
/// `{"ts":"…","level":"info","label":"authgate","msg":"…", …metadata}`.
///
/// Log lines never carry credentials: the gateway never puts a token or secret into metadata,
/// and ``Secret`` prints as `<redacted>`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"ts\":\"\(Timestamp.iso8601Now())\",\"level\":\"\(event.level)\",\"label\":"
        ErrorBodyJSON.append(self.label, to: &line)
        line += ",\"msg\":"
        ErrorBodyJSON.append("\(event.message)", to: &line)
        var merged = self.metadata
        if let extra = event.metadata {
            merged.merge(extra, uniquingKeysWith: { $1 })
        }
        for key in merged.keys.sorted() {
            line += ","
            ErrorBodyJSON.append(key, to: &line)
            line += ":"
            ErrorBodyJSON.append("\(merged[key]!)", to: &line)
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }
}

enum ErrorBodyJSON {
    static func append(_ value: String, to out: inout String) {
        ErrorBody.appendJSONString(value, to: &out)
    }
}
