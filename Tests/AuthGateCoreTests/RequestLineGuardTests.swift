import Testing

@testable import AuthGateCore

@Suite("RequestLineGuard")
struct RequestLineGuardTests {
    @Test("a request line longer than the URI limit is too long, in one piece or in many")
    func longLine() {
        let line = Array("GET /\(String(repeating: "a", count: 2000)) HTTP/1.1\r\nHost: g\r\n\r\n".utf8)
        var whole = RequestLineGuard(maxURIBytes: 1024)
        whole.scan(line)
        #expect(whole.requestLineTooLong)
        #expect(!whole.isScanning)

        var pieces = RequestLineGuard(maxURIBytes: 1024)
        for chunk in stride(from: 0, to: 1500, by: 100) {
            pieces.scan(line[chunk..<chunk + 100])
        }
        #expect(pieces.isScanning, "no LF yet")
        #expect(pieces.requestLineTooLong)
    }

    @Test("a short request line followed by a huge header is not too long")
    func bigHeader() {
        var guardian = RequestLineGuard(maxURIBytes: 1024)
        guardian.scan(Array("GET /echo HTTP/1.1\r\nX-Big: \(String(repeating: "b", count: 100_000))".utf8))
        #expect(!guardian.requestLineTooLong)
        #expect(!guardian.isScanning)
    }

    @Test("leading CRLFs are skipped; after a message ends the next line is watched again")
    func nextMessage() {
        var guardian = RequestLineGuard(maxURIBytes: 16)
        guardian.scan(Array("\r\n\r\nGET /short HTTP/1.1\r\n".utf8))
        #expect(!guardian.requestLineTooLong)
        guardian.scan(Array("Host: g\r\n\r\n".utf8))
        guardian.messageEnded()
        #expect(guardian.isScanning)
        guardian.scan(Array("GET /\(String(repeating: "x", count: 200))".utf8))
        #expect(guardian.requestLineTooLong)
    }
}
