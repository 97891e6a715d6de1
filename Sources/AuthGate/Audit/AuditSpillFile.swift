import AuthGateCore

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a spill file operation failed: the call and `errno`.
struct AuditSpillFileError: Error, CustomStringConvertible {
    var operation: String
    var errno: Int32
    var description: String { "\(self.operation): \(String(cString: strerror(self.errno)))" }
}

/// The audit log's spill file: append-only lines (``AuditSpillCodec``), read back from an
/// offset, truncated once replayed.
///
/// Blocking POSIX calls; the audit writer runs every call on `NIOThreadPool` so neither an
/// event loop nor a cooperative thread waits for the disk. Only the writer uses it, one call at
/// a time (hence `@unchecked Sendable`).
final class AuditSpillFile: @unchecked Sendable {
    let path: String
    private var fd: Int32 = -1

    init(path: String) {
        self.path = path
    }

    deinit {
        if self.fd >= 0 { _ = close(self.fd) }
    }

    var isOpen: Bool { self.fd >= 0 }

    /// What ``open()`` found.
    struct Opened {
        /// The size after a torn last line was cut off.
        var bytes: Int64
        /// Bytes of a torn last line (a crash in the middle of an append) that were cut off.
        var tornBytes: Int64
    }

    /// Opens (creating, mode 0600) the file for appending and cuts a torn last line off, so
    /// that the next append does not glue a new line to it.
    func open() throws(AuditSpillFileError) -> Opened {
        if self.fd < 0 {
            let fd = Self.systemOpen(self.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw AuditSpillFileError(operation: "open \(self.path)", errno: errno) }
            self.fd = fd
        }
        let size = try self.size()
        guard size > 0 else { return Opened(bytes: 0, tornBytes: 0) }
        // Find the last newline, reading backwards in blocks.
        var end = size
        let block: Int64 = 64 * 1024
        var keep: Int64 = 0
        search: while end > 0 {
            let start = max(0, end - block)
            let bytes = try self.read(offset: start, count: Int(end - start))
            if let last = bytes.lastIndex(of: UInt8(ascii: "\n")) {
                keep = start + Int64(last) + 1
                break search
            }
            end = start
        }
        if keep < size {
            guard ftruncate(self.fd, off_t(keep)) == 0 else {
                throw AuditSpillFileError(operation: "ftruncate", errno: errno)
            }
            _ = fsync(self.fd)
        }
        return Opened(bytes: keep, tornBytes: size - keep)
    }

    func size() throws(AuditSpillFileError) -> Int64 {
        var info = stat()
        guard fstat(self.fd, &info) == 0 else { throw AuditSpillFileError(operation: "fstat", errno: errno) }
        return Int64(info.st_size)
    }

    /// Appends `bytes` (whole lines) and `fsync`s. A short write is completed; on an error the
    /// file is cut back to where it was, so it never ends in a partial line.
    func append(_ bytes: [UInt8]) throws(AuditSpillFileError) {
        let before = try self.size()
        var written = 0
        let result: Int32 = bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let n = write(self.fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return 0
        }
        if result != 0 {
            _ = ftruncate(self.fd, off_t(before))
            throw AuditSpillFileError(operation: "write", errno: result)
        }
        guard fsync(self.fd) == 0 else {
            let error = errno
            _ = ftruncate(self.fd, off_t(before))
            throw AuditSpillFileError(operation: "fsync", errno: error)
        }
    }

    /// Up to `count` bytes from `offset`.
    func read(offset: Int64, count: Int) throws(AuditSpillFileError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        var total = 0
        let result: Int32 = output.withUnsafeMutableBytes { buffer in
            while total < count {
                let n = pread(self.fd, buffer.baseAddress! + total, count - total, off_t(offset) + off_t(total))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }
                total += n
            }
            return 0
        }
        guard result == 0 else { throw AuditSpillFileError(operation: "pread", errno: result) }
        output.removeLast(count - total)
        return output
    }

    /// What ``readRecords(offset:maxRecords:)`` read.
    struct Chunk {
        var records: [AuditRecord]
        var nextOffset: Int64
        var invalidLines: Int
        var tornTail: Bool
    }

    /// Decodes up to `maxRecords` lines from `offset`: reads 256 KiB at a time, more if one
    /// line is longer (lines are bounded by ``AuditRecord/Limits``).
    func readRecords(offset: Int64, maxRecords: Int) throws(AuditSpillFileError) -> Chunk {
        let size = try self.size()
        var want = 256 * 1024
        while true {
            let bytes = try self.read(offset: offset, count: want)
            let atEnd = offset + Int64(bytes.count) >= size
            let decoded = AuditSpillCodec.decode(bytes[...], maxRecords: maxRecords, atEndOfFile: atEnd)
            if decoded.consumedBytes > 0 || atEnd {
                return Chunk(
                    records: decoded.records,
                    nextOffset: offset + Int64(decoded.consumedBytes),
                    invalidLines: decoded.invalidLines,
                    tornTail: decoded.tornTail
                )
            }
            want *= 2
        }
    }

    /// Empties the file.
    func truncate() throws(AuditSpillFileError) {
        guard ftruncate(self.fd, 0) == 0 else { throw AuditSpillFileError(operation: "ftruncate", errno: errno) }
        _ = fsync(self.fd)
    }

    private static func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
        #if canImport(Darwin)
        return Darwin.open(path, flags, mode)
        #elseif canImport(Glibc)
        return Glibc.open(path, flags, mode)
        #else
        return Musl.open(path, flags, mode)
        #endif
    }
}
