/// Better Auth's versioned secrets, `BETTER_AUTH_SECRETS="<version>:<secret>,<version>:<secret>"`:
/// the first entry is the current secret, the others are older ones kept while a rotation
/// is under way.
///
/// The gateway verifies a session cookie (or an HS256 JWT) with any of them and signs with the
/// current one only: a cookie signed before the rotation passes the gateway, which re-signs it
/// with the current secret for the auth server's get-session, so rotating the secret does not
/// sign everyone out. The format and its rules are Better Auth's (`parseSecretsEnv`,
/// `validateSecretsArray`): non-negative integer versions, each once, no empty value.
public enum VersionedSecrets {
    /// Why a list is refused; the messages never contain a secret.
    public enum Problem: Error, Sendable, Equatable {
        case empty
        case missingColon(entry: Int)
        case badVersion(entry: Int)
        case duplicateVersion(Int)
        case emptyValue(version: Int)

        public var message: String {
            switch self {
            case .empty:
                return "holds no entry; expected \"<version>:<secret>,<version>:<secret>\""
            case .missingColon(let entry):
                return "entry \(entry) has no \"<version>:\"; expected \"<version>:<secret>,…\" (value not shown)"
            case .badVersion(let entry):
                return "entry \(entry): the version must be a non-negative integer (value not shown)"
            case .duplicateVersion(let version):
                return "version \(version) appears twice"
            case .emptyValue(let version):
                return "version \(version) has an empty secret"
            }
        }
    }

    /// One secret of the list.
    public struct Entry: Sendable, Equatable {
        public var version: Int
        public var secret: [UInt8]

        public init(version: Int, secret: [UInt8]) {
            self.version = version
            self.secret = secret
        }
    }

    /// The entries of `value`, current first. Entries are separated by `,` and trimmed of
    /// spaces and tabs; the secret is everything after the first `:`.
    public static func parse(_ value: [UInt8]) -> Result<[Entry], Problem> {
        var entries: [Entry] = []
        var seen: Set<Int> = []
        for (index, raw) in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).enumerated() {
            let item = Self.trimmed(raw)
            let number = index + 1
            if item.isEmpty && value.allSatisfy({ Self.isBlank($0) || $0 == UInt8(ascii: ",") }) {
                return .failure(.empty)
            }
            guard let colon = item.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(.missingColon(entry: number))
            }
            let digits = Self.trimmed(item[..<colon])
            guard !digits.isEmpty, digits.count <= 9,
                digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else {
                return .failure(.badVersion(entry: number))
            }
            let version = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            let secret = Self.trimmed(item[item.index(after: colon)...])
            guard !secret.isEmpty else { return .failure(.emptyValue(version: version)) }
            guard seen.insert(version).inserted else { return .failure(.duplicateVersion(version)) }
            entries.append(Entry(version: version, secret: Array(secret)))
        }
        return entries.isEmpty ? .failure(.empty) : .success(entries)
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, Self.isBlank(first) { slice = slice.dropFirst() }
        while let last = slice.last, Self.isBlank(last) { slice = slice.dropLast() }
        return slice
    }
}
