import Testing

@testable import AuthGateCore

/// The loader's schema (``ConfigLoader/sections``) is the one place that states each setting's
/// range or words; these tests read a file through it for every such setting, at and past its
/// limits, so a range or a word added to the table is covered without a line here.
@Suite("ConfigSchema")
struct ConfigSchemaTests {
    /// A database URL, so that the words that need one (`postgres`, `refuse`) load cleanly.
    static let environment = ["DATABASE_URL": "postgres://u:p@db:5432/app"]

    /// The issues of loading `yaml` whose key is `key` (the file may have others).
    private func issues(_ yaml: String, key: String) -> [ConfigIssue] {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: nil, environment: Self.environment)
            return []
        } catch {
            return error.issues.filter { $0.key == key }
        }
    }

    // MARK: Integers

    /// The YAML that sets the integer setting `key` (`section.name`) to `value`.
    private func yaml(integer key: String, _ value: Int64) -> String {
        let parts = key.split(separator: ".", maxSplits: 1)
        return "\(parts[0]):\n  \(parts[1]): \(value)\n"
    }

    /// What validation says of `value`, outside `range`.
    private func outOfRange(_ value: Int64, _ range: ClosedRange<Int64>, unit: String) -> String {
        range.upperBound == Int64.max
            ? "must be at least \(range.lowerBound) \(unit), got \(value)"
            : "must be \(range.lowerBound)...\(range.upperBound) \(unit), got \(value)"
    }

    @Test("every integer setting accepts both ends of its range", arguments: ConfigLoader.integerFields.map(\.key))
    func integerBoundsAccepted(key: String) throws {
        let field = try #require(ConfigLoader.integerFields.first { $0.key == key })
        #expect(self.issues(self.yaml(integer: key, field.range.lowerBound), key: key) == [])
        #expect(self.issues(self.yaml(integer: key, field.range.upperBound), key: key) == [])
    }

    @Test(
        "every integer setting refuses the values just outside its range",
        arguments: ConfigLoader.integerFields.map(\.key)
    )
    func integerOutOfRangeRefused(key: String) throws {
        let field = try #require(ConfigLoader.integerFields.first { $0.key == key })
        let below = field.range.lowerBound - 1
        #expect(
            self.issues(self.yaml(integer: key, below), key: key) == [
                ConfigIssue(key: key, reason: self.outOfRange(below, field.range, unit: field.unit))
            ]
        )
        if field.range.upperBound < Int64.max {
            let above = field.range.upperBound + 1
            #expect(
                self.issues(self.yaml(integer: key, above), key: key) == [
                    ConfigIssue(key: key, reason: self.outOfRange(above, field.range, unit: field.unit))
                ]
            )
        }
    }

    @Test("every integer setting states its unit", arguments: ConfigLoader.integerFields.map(\.key))
    func integerUnits(key: String) throws {
        let field = try #require(ConfigLoader.integerFields.first { $0.key == key })
        #expect(!field.unit.isEmpty)
        #expect(!field.range.isEmpty)
    }

    // MARK: Choices

    /// The YAML that sets the choice setting `key` to `word`, and the key its issues carry.
    private func yaml(choice key: String, _ word: String) -> (yaml: String, issueKey: String) {
        if key.hasPrefix("\(ConfigLoader.routesKey)[].") {
            let name = key.dropFirst("\(ConfigLoader.routesKey)[].".count)
            return ("routes:\n  - {path: /a/, \(name): \"\(word)\"}\n", "routes[0].\(name)")
        }
        if key == "auth.legacy_keys[].alg" {
            return ("auth:\n  legacy_keys:\n    - {alg: \"\(word)\"}\n", "auth.legacy_keys[0].alg")
        }
        let parts = key.split(separator: ".", maxSplits: 1)
        return ("\(parts[0]):\n  \(parts[1]): \"\(word)\"\n", key)
    }

    @Test("the schema knows every choice setting")
    func choiceKeys() {
        #expect(
            Set(ConfigLoader.wordFields.map(\.key)) == [
                "server.escaped_slashes", "server.path_parameters", "logging.level", "logging.format",
                "auth.session_resolver", "auth.cookie_cache_strategy", "rollout.migration_policy", "lockout.store",
                "assertion.algorithm", "routes[].access", "routes[].upstream", "auth.legacy_keys[].alg",
            ]
        )
    }

    @Test("every choice setting accepts each of its words", arguments: ConfigLoader.wordFields.map(\.key))
    func choiceWordsAccepted(key: String) throws {
        let field = try #require(ConfigLoader.wordFields.first { $0.key == key })
        #expect(field.words.count >= 2)
        for word in field.words {
            let (yaml, issueKey) = self.yaml(choice: key, word)
            #expect(self.issues(yaml, key: issueKey) == [], "\(key): \(word)")
        }
    }

    @Test(
        "every choice setting refuses an unknown word, naming it and listing the words",
        arguments: ConfigLoader.wordFields.map(\.key)
    )
    func choiceUnknownWordRefused(key: String) throws {
        let field = try #require(ConfigLoader.wordFields.first { $0.key == key })
        for word in ["nope", "", field.words[0] + " ", field.words[0].uppercased() + "X"] {
            let (yaml, issueKey) = self.yaml(choice: key, word)
            let found = self.issues(yaml, key: issueKey)
            #expect(found.count == 1, "\(key): \(word)")
            let reason = found.first?.reason ?? ""
            #expect(reason.hasPrefix("\"\(word)\" is not "), "\(key): \(reason)")
            for accepted in field.words {
                #expect(reason.contains(accepted), "\(key): \(reason) does not list \(accepted)")
            }
        }
    }

    @Test("a word must be written as the file reference spells it: case matters")
    func choiceCase() {
        #expect(
            self.issues("server:\n  escaped_slashes: Decode\n", key: "server.escaped_slashes") == [
                ConfigIssue(key: "server.escaped_slashes", reason: "\"Decode\" is not one of decode, reject")
            ]
        )
        #expect(self.issues("assertion:\n  algorithm: EdDSA\n", key: "assertion.algorithm") == [])
        #expect(
            self.issues("assertion:\n  algorithm: eddsa\n", key: "assertion.algorithm") == [
                ConfigIssue(key: "assertion.algorithm", reason: "\"eddsa\" is not one of EdDSA, HS256")
            ]
        )
    }

    @Test("a word that is not a string is refused as such")
    func choiceNotAString() {
        let found = self.issues("rollout:\n  migration_policy: [off]\n", key: "rollout.migration_policy")
        #expect(found.count == 1)
    }

    @Test("a legacy key whose alg is refused keeps the others' numbers in their issues")
    func legacyKeyNumbers() {
        let yaml = """
            auth:
              legacy_keys:
                - {alg: HS384, secret: "0123456789abcdef0123456789abcdef"}
                - {alg: HS256}
            """
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
            Issue.record("loaded")
        } catch {
            #expect(
                error.issues == [
                    ConfigIssue(
                        key: "auth.legacy_keys[0].alg",
                        reason: "\"HS384\" is not one of HS256, RS256, PS256, ES256, EdDSA"
                    ),
                    ConfigIssue(key: "auth.legacy_keys[1].secret", reason: "is required for HS256 (or secret_file)"),
                ]
            )
        }
    }

    @Test("AUTHGATE_LOG_LEVEL is read in any case; an unknown level names the variable")
    func logLevelVariable() throws {
        let config = try ConfigLoader.parse(yaml: "", file: nil, environment: ["AUTHGATE_LOG_LEVEL": "WARNING"])
        #expect(config.logging.level == .warning)
        do {
            _ = try ConfigLoader.parse(
                yaml: "logging:\n  level: loud\n",
                file: nil,
                environment: ["AUTHGATE_LOG_LEVEL": "info"]
            )
        } catch {
            Issue.record("the variable replaces the file's word: \(error)")
        }
        #expect(throws: ConfigError.self) {
            try ConfigLoader.parse(yaml: "", file: nil, environment: ["AUTHGATE_LOG_LEVEL": "loud"])
        }
        do {
            _ = try ConfigLoader.parse(yaml: "", file: nil, environment: ["AUTHGATE_LOG_LEVEL": "loud"])
        } catch {
            #expect(
                error.issues == [
                    ConfigIssue(
                        key: "logging.level",
                        reason: "\"loud\" is not a log level; expected one of trace, debug, info, notice, warning, "
                            + "error, critical (set by AUTHGATE_LOG_LEVEL)"
                    )
                ]
            )
        }
    }
}
