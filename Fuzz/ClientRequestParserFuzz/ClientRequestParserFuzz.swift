import AuthGateCore
import CFuzzerDriver
import NIOCore

/// The executable's entry point: SwiftPM links `main` to `<Target>_main`, which with
/// `-parse-as-library` this file defines, handing over to libFuzzer's driver.
@_cdecl("ClientRequestParserFuzz_main")
public func clientRequestParserFuzzMain(
    _ argc: CInt,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else { return 0 }
        return clientRequestParserFuzz(data, size)
    }
}

/// libFuzzer's entry point: the first byte picks where the rest is cut in two; the rest is fed
/// to a ``ClientRequestParser`` in those two pieces and, separately, whole. The run fails
/// (traps) when an invariant breaks:
///
/// - the two feedings give the same transcript of events and the same error;
/// - the body bytes handed on never outnumber the input bytes;
/// - a head's accessors agree with its bytes (the target and every field lie inside them, the
///   field count is the number of field lines);
/// - an error is thrown again on the next call.
///
/// The limits are small so that the 414 and 431 paths are reached as often as the others.
@_cdecl("LLVMFuzzerTestOneInput")
public func clientRequestParserFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let first = bytes.first else { return 0 }
    let input = bytes.dropFirst()
    let cut = input.isEmpty ? 0 : Int(first) % (input.count + 1)
    let whole = transcript(of: input, cuts: [])
    let split = transcript(of: input, cuts: [cut])
    precondition(whole == split, "cutting the input at \(cut) changed the events")
    precondition(whole.bodyBytes <= input.count, "more body bytes than input bytes")
    return 0
}

/// What a parse produced, with consecutive body events merged (a split may cut a body in two).
struct Transcript: Equatable {
    var events: [[UInt8]] = []
    var error: ClientRequestParserError?
    var bodyBytes = 0
}

private let limits = ClientRequestParser.Limits(
    maxRequestLineBytes: 200,
    maxTargetBytes: 150,
    maxFieldBytes: 400,
    maxFieldCount: 12,
    maxChunkLineBytes: 40
)

private func transcript(of input: Slice<UnsafeBufferPointer<UInt8>>, cuts: [Int]) -> Transcript {
    var parser = ClientRequestParser(limits: limits)
    var buffer = ByteBuffer()
    var out = Transcript()
    var body: [UInt8] = []
    func flushBody() {
        if !body.isEmpty {
            out.events.append([UInt8(ascii: "B")] + body)
            body.removeAll()
        }
    }
    func record(_ event: ClientRequestParser.Event) {
        switch event {
        case .head(let head):
            flushBody()
            check(head)
            var entry: [UInt8] = [UInt8(ascii: "H")]
            entry += Array(head.method.rawValue.utf8)
            entry += Array(head.target)
            entry += [UInt8(head.version.minor), head.keepAlive ? 1 : 0]
            entry += Array(head.bytes.readableBytesView)
            switch head.framing {
            case .none: entry += [0]
            case .contentLength(let length): entry += [1] + Array(String(length).utf8)
            case .chunked: entry += [2]
            }
            out.events.append(entry)
        case .body(let bytes):
            body += Array(bytes.readableBytesView)
            out.bodyBytes += bytes.readableBytes
        case .end(let trailers):
            flushBody()
            out.events.append([UInt8(ascii: "E")] + (trailers.map { Array($0.bytes.readableBytesView) } ?? []))
        }
    }
    var start = input.startIndex
    do throws(ClientRequestParserError) {
        for end in cuts.map({ input.startIndex + $0 }) + [input.endIndex] {
            buffer.writeBytes(UnsafeBufferPointer(rebasing: input.base[start..<end]))
            start = end
            while let event = try parser.next(&buffer) { record(event) }
        }
        while let event = try parser.finish(&buffer) { record(event) }
    } catch {
        flushBody()
        out.error = error
        // The error sticks.
        do throws(ClientRequestParserError) {
            _ = try parser.next(&buffer)
            preconditionFailure("no error after \(error)")
        } catch let again {
            precondition(again == error, "a different error after \(error): \(again)")
        }
    }
    flushBody()
    return out
}

/// A head's accessors agree with its bytes.
private func check(_ head: ParsedRequestHead) {
    precondition(head.bytes.readableBytes <= limits.maxRequestLineBytes + limits.maxFieldBytes + 4)
    let target = head.target
    precondition(target.count >= 1 && target.count <= limits.maxTargetBytes)
    precondition(target.first == UInt8(ascii: "/") || (head.method == .OPTIONS && Array(target) == [UInt8(ascii: "*")]))
    var fields = 0
    var fieldBytes = 0
    head.fields.forEachField { name, value in
        fields += 1
        fieldBytes += name.count + value.count
        precondition(!name.isEmpty)
        precondition(!value.contains(UInt8(ascii: "\r")) && !value.contains(UInt8(ascii: "\n")) && !value.contains(0))
    }
    precondition(fields == head.fields.count && fields <= limits.maxFieldCount)
    precondition(fieldBytes <= head.fields.bytes.readableBytes)
    precondition(head.version == .http1_1 ? head.host != nil : true)
    if case .chunked = head.framing { precondition(head.version == .http1_1 && head.field("content-length") == nil) }
}
