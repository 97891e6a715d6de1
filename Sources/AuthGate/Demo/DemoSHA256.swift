/// A small streaming SHA-256 (FIPS 180-4) for the demo backend's upload digests.
///
/// The package has no crypto dependency the demo may use, and the backend only needs a digest to
/// prove that a streamed body arrived intact, so this is a plain, portable implementation. Not for
/// security use.
public struct DemoSHA256: Sendable {
    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
    )
    /// Bytes of an incomplete block, waiting for more input.
    private var pending: [UInt8] = []
    private var totalBytes: UInt64 = 0

    /// Creates a hasher with no input.
    public init() {
        self.pending.reserveCapacity(64)
    }

    /// Feeds `bytes` into the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        self.totalBytes &+= UInt64(bytes.count)
        var offset = 0
        if !self.pending.isEmpty {
            let take = min(64 - self.pending.count, bytes.count)
            self.pending.append(contentsOf: bytes[0..<take])
            offset = take
            guard self.pending.count == 64 else { return }
            let block = self.pending
            block.withUnsafeBytes { self.compress(blocks: $0) }
            self.pending.removeAll(keepingCapacity: true)
        }
        let wholeBlocks = (bytes.count - offset) / 64 * 64
        if wholeBlocks > 0 {
            self.compress(blocks: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + wholeBlocks)]))
            offset += wholeBlocks
        }
        if offset < bytes.count {
            self.pending.append(contentsOf: bytes[offset...])
        }
    }

    /// Feeds the bytes of `sequence` into the digest.
    public mutating func update<Bytes: Sequence>(_ sequence: Bytes) where Bytes.Element == UInt8 {
        let array = Array(sequence)
        array.withUnsafeBytes { self.update($0) }
    }

    /// Finishes the digest and returns its 32 bytes.
    public consuming func finalize() -> [UInt8] {
        let bitLength = self.totalBytes &* 8
        var tail = self.pending
        tail.append(0x80)
        while tail.count % 64 != 56 {
            tail.append(0)
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        tail.withUnsafeBytes { self.compress(blocks: $0) }
        let words = [
            self.state.0, self.state.1, self.state.2, self.state.3,
            self.state.4, self.state.5, self.state.6, self.state.7,
        ]
        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        for word in words {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    /// Finishes the digest and returns it as lowercase hex (64 characters).
    public consuming func finalizeHex() -> String {
        Self.hex(self.finalize())
    }

    /// The SHA-256 of `bytes` as lowercase hex.
    public static func hex<Bytes: Sequence>(of bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hasher = DemoSHA256()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compresses whole 64-byte blocks.
    ///
    /// Written with raw pointers, masking shifts and inline rotations: tests run it in debug builds,
    /// where every non-transparent call (a generic `>>`, a buffer subscript, a helper function)
    /// costs more than the arithmetic. About 25 MB/s unoptimised, far more in release.
    private mutating func compress(blocks: UnsafeRawBufferPointer) {
        precondition(blocks.count % 64 == 0)
        guard let base = blocks.baseAddress else { return }
        let w = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
        defer { w.deallocate() }
        Self.roundConstants.withUnsafeBufferPointer { constants in
            let k = constants.baseAddress!
            var blockStart = 0
            while blockStart < blocks.count {
                var i = 0
                while i < 16 {
                    w[i] = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: blockStart + i &* 4, as: UInt32.self))
                    i &+= 1
                }
                while i < 64 {
                    let x = w[i &- 15]
                    let y = w[i &- 2]
                    let s0 = (x &>> 7 | x &<< 25) ^ (x &>> 18 | x &<< 14) ^ (x &>> 3)
                    let s1 = (y &>> 17 | y &<< 15) ^ (y &>> 19 | y &<< 13) ^ (y &>> 10)
                    w[i] = w[i &- 16] &+ s0 &+ w[i &- 7] &+ s1
                    i &+= 1
                }
                var (a, b, c, d, e, f, g, h) = self.state
                i = 0
                while i < 64 {
                    let s1 = (e &>> 6 | e &<< 26) ^ (e &>> 11 | e &<< 21) ^ (e &>> 25 | e &<< 7)
                    let choice = (e & f) ^ (~e & g)
                    let t1 = h &+ s1 &+ choice &+ k[i] &+ w[i]
                    let s0 = (a &>> 2 | a &<< 30) ^ (a &>> 13 | a &<< 19) ^ (a &>> 22 | a &<< 10)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    h = g
                    g = f
                    f = e
                    e = d &+ t1
                    d = c
                    c = b
                    b = a
                    a = t1 &+ s0 &+ majority
                    i &+= 1
                }
                self.state.0 &+= a
                self.state.1 &+= b
                self.state.2 &+= c
                self.state.3 &+= d
                self.state.4 &+= e
                self.state.5 &+= f
                self.state.6 &+= g
                self.state.7 &+= h
                blockStart &+= 64
            }
        }
    }
}
