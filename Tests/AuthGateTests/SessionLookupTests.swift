import AuthGateCore
import Foundation
import Testing

@testable import AuthGate

/// get-session answers as the http resolver reads them, with Better Auth's admin and
/// organization plugins on and off (pure: no I/O).
@Suite("get-session answers with plugins")
struct SessionLookupTests {
    private func lookup(_ json: String, admin: Bool = false, organization: Bool = false) throws -> SessionLookup {
        HTTPSessionResolver.lookup(
            from: try JSONParser.parse(Array(json.utf8)),
            adminPlugin: admin,
            organizationPlugin: organization,
            now: 1_900_000_000
        )
    }

    private let answer = #"""
        {"session":{"id":"s1","token":"t","userId":"u1","expiresAt":"2031-01-01T00:00:00.000Z",
        "impersonatedBy":"admin-1","activeOrganizationId":"org-1"},
        "user":{"id":"u1","email":"u@example.com","banned":true,"banExpires":null}}
        """#

    @Test("without the plugins their fields are ignored: no ban, no impersonator, no organization")
    func pluginsOff() throws {
        guard case .found(let identity) = try self.lookup(self.answer) else {
            Issue.record("not found")
            return
        }
        #expect(identity.userID == "u1")
        #expect(identity.impersonatedBy == nil && identity.organizationID == nil)
    }

    @Test("with the admin plugin a banned user is banned; an ended ban is not")
    func adminPlugin() throws {
        guard case .banned = try self.lookup(self.answer, admin: true) else {
            Issue.record("a banned user was not refused")
            return
        }
        let ended = self.answer.replacingBanExpires(with: #""2020-01-01T00:00:00.000Z""#)
        guard case .found(let identity) = try self.lookup(ended, admin: true) else {
            Issue.record("an ended ban still refused")
            return
        }
        #expect(identity.impersonatedBy == "admin-1")
    }

    @Test("with the organization plugin the active organization is read")
    func organizationPlugin() throws {
        guard case .found(let identity) = try self.lookup(self.answer, organization: true) else {
            Issue.record("not found")
            return
        }
        #expect(identity.organizationID == "org-1")
        #expect(identity.organizationRole == nil)
    }
}

extension String {
    fileprivate func replacingBanExpires(with value: String) -> String {
        guard let range = self.range(of: #""banExpires":null"#) else { return self }
        return self.replacingCharacters(in: range, with: #""banExpires":"# + value)
    }
}
