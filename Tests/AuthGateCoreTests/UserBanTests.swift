import Testing

@testable import AuthGateCore

@Suite("UserBan and impersonation rules")
struct UserBanTests {
    @Test("a ban holds without an end or until its end; banned false is no ban")
    func inEffect() {
        #expect(UserBan(banned: true, expiresAt: nil).isInEffect(now: 1_000))
        #expect(UserBan(banned: true, expiresAt: 1_001).isInEffect(now: 1_000))
        #expect(!UserBan(banned: true, expiresAt: 1_000).isInEffect(now: 1_000))
        #expect(!UserBan(banned: false, expiresAt: nil).isInEffect(now: 1_000))
    }

    @Test("read from get-session's user object; an unreadable banExpires keeps the ban")
    func fromJSON() throws {
        func ban(_ json: String) throws -> UserBan {
            UserBan(user: try JSONParser.parse(Array(json.utf8)))
        }
        #expect(try ban(#"{"id":"u"}"#) == UserBan(banned: false, expiresAt: nil))
        #expect(try ban(#"{"banned":null,"banExpires":null}"#) == UserBan(banned: false, expiresAt: nil))
        #expect(try ban(#"{"banned":true,"banExpires":null}"#) == UserBan(banned: true, expiresAt: nil))
        let timed = try ban(#"{"banned":true,"banExpires":"2030-01-01T00:00:00.000Z"}"#)
        #expect(timed.expiresAt == 1_893_456_000)
        #expect(try ban(#"{"banned":true,"banExpires":"soon"}"#).isInEffect(now: 2_000_000_000))
    }

    @Test("a route that refuses impersonation refuses it under either reading of a path with parameters")
    func routeOption() {
        var refusing = RouteTable.Rule(path: "/api/account/", access: .authenticated)
        refusing.allowImpersonation = false
        let table = RouteTable(rules: [refusing, RouteTable.Rule(path: "/api/", access: .authenticated)])
        #expect(table.match(path: "/api/account/password").allowImpersonation == false)
        #expect(table.match(path: "/api/orders").allowImpersonation == true)
        let viaParameters = try? table.match(pathWithParameters: "/api/x;a=b/../account/password").get()
        #expect(viaParameters?.allowImpersonation == false)
    }

    @Test("the session lookup reads the admin plugin's columns only when it is on")
    func lookupSQL() {
        var schema = SessionSchema()
        #expect(!schema.lookupSQL.contains("banned"))
        schema.adminPlugin = true
        #expect(schema.lookupSQL.contains(#"coalesce(u."banned", false)"#))
        #expect(schema.lookupSQL.contains(#"(extract(epoch from u."banExpires"))::bigint"#))
        #expect(schema.lookupSQL.contains(#"s."impersonatedBy"::text"#))
        #expect(schema.lookupSQL.contains(", NULL::text, NULL::text FROM"))
        schema.organizationPlugin = true
        #expect(schema.lookupSQL.contains(#"s."activeOrganizationId"::text"#))
        #expect(schema.lookupSQL.contains(#"m."userId" = s."userId""#))
        schema.adminPlugin = false
        #expect(schema.lookupSQL.contains(", false, NULL::bigint, NULL::text, s.\"activeOrganizationId\""))
    }
}
