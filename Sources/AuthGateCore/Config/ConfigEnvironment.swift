/// The environment that configuration overrides are read from (`LEGACY_JWT_SECRET`,
/// `DATABASE_URL`, … as a systemd `EnvironmentFile` supplies them), held so that it never prints.
///
/// A value that keeps the environment for reloads keeps every secret in it. Stored as a plain
/// dictionary inside a service or the gateway, it is printed in clear by whatever describes its
/// holder: swift-service-lifecycle names a service by `"\(service)"` and logs that name at debug
/// and trace. Wrapped in this type, `description`, `debugDescription` and reflection show the
/// number of variables only.
public struct ConfigEnvironment: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The variables; read them only to load the configuration.
    public let variables: [String: String]

    public init(_ variables: [String: String]) {
        self.variables = variables
    }

    public var description: String { "<environment of \(self.variables.count) variables, redacted>" }
    public var debugDescription: String { self.description }
    /// No children: names and values stay out of `dump` and `Mirror`.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
