-- Cross-instance cache eviction for AuthGate: when Better Auth deletes a session (sign-out,
-- revocation, expiry clean-up), every gateway instance listening on `authgate_cache_evict`
-- drops it from its identity cache at once instead of waiting for cache.positive_ttl_ms.
-- Safe to apply twice. Rename "session" if your deployment renamed the table
-- (for example better_auth_sessions).
CREATE OR REPLACE FUNCTION authgate_notify_session_deleted() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('authgate_cache_evict', 'session:' || OLD."id");
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS authgate_session_deleted ON "session";
CREATE TRIGGER authgate_session_deleted
    AFTER DELETE ON "session"
    FOR EACH ROW EXECUTE FUNCTION authgate_notify_session_deleted();
