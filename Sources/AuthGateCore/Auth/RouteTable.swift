/// The route rules of `routes:`, compiled: first match wins, unmatched paths are
/// `authenticated` (fail closed).
public struct RouteTable: Sendable, Hashable {
    public struct Rule: Sendable, Hashable {
        public var path: String
        public var access: RouteAccess
        /// A path ending in `/` matches everything below it; otherwise the path exactly.
        public var isPrefix: Bool { self.path.hasSuffix("/") }

        public init(path: String, access: RouteAccess) {
            self.path = path
            self.access = access
        }

        func matches(_ path: Substring) -> Bool {
            if self.isPrefix {
                return path.utf8.starts(with: self.path.utf8) || path.utf8.elementsEqual(self.path.utf8.dropLast())
            }
            return path.utf8.elementsEqual(self.path.utf8)
        }
    }

    public var rules: [Rule]
    public var defaultAccess: RouteAccess

    public init(rules: [Rule], defaultAccess: RouteAccess = .authenticated) {
        self.rules = rules
        self.defaultAccess = defaultAccess
    }

    /// The access level for a request target (its query string is ignored).
    public func access(forTarget target: String) -> RouteAccess {
        let path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        for rule in self.rules where rule.matches(path) {
            return rule.access
        }
        return self.defaultAccess
    }
}
