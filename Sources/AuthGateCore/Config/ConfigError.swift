/// One thing wrong with a configuration: where it is and why it is wrong.
///
/// `key` names the setting the way an operator writes it: a dotted YAML path such as
/// `upstream.connect_timeout_ms`, a list element such as `trusted_proxies[2]`, an environment
/// variable such as `PREFER_BETTER_AUTH`, or `""` when the problem is the file as a whole (it
/// cannot be read, or it is not YAML). `reason` is a sentence for a human. Neither ever contains
/// the value of a secret.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    /// The setting the issue is about, or `""` for the file as a whole.
    public var key: String
    /// What is wrong, and where helpful what would be right.
    public var reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }

    /// `KEY: REASON`, or just `REASON` when the issue is about the whole file.
    public var description: String {
        key.isEmpty ? reason : "\(key): \(reason)"
    }
}

/// A configuration that must not be used, with every reason why.
///
/// The loader and the validator collect all issues before throwing, so one `check-config` run
/// shows everything an operator has to fix. A reload that fails with this error keeps the running
/// configuration.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file the configuration came from, if it came from a file.
    public var file: String?
    /// Everything that is wrong, in the order it was found; never empty when thrown.
    public var issues: [ConfigIssue]

    public init(file: String?, issues: [ConfigIssue]) {
        self.file = file
        self.issues = issues
    }

    /// One line per issue, `FILE: KEY: REASON` (the `FILE: ` part is left out when there is no
    /// file, the `KEY: ` part when the issue is about the whole file).
    public var description: String {
        let prefix = self.file.map { "\($0): " } ?? ""
        guard !self.issues.isEmpty else {
            return "\(prefix)invalid configuration"
        }
        return self.issues.map { "\(prefix)\($0.description)" }.joined(separator: "\n")
    }
}
