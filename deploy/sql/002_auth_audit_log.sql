-- AuthGate migration 002: the authentication audit trail (audit.table, default auth_audit_log).
-- event_id is unique so that replaying the spill file after an outage inserts each event
-- exactly once (INSERT ... ON CONFLICT (event_id) DO NOTHING). client_ip is text so that the
-- writer binds plain strings; cast to inet in queries that need CIDR matching.
CREATE TABLE IF NOT EXISTS auth_audit_log (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    event_type text NOT NULL,
    auth_method text,
    success boolean,
    user_id text,
    session_id_hash text,
    client_ip text,
    user_agent text,
    route text,
    reason text,
    request_id text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS auth_audit_log_created_at_idx ON auth_audit_log (created_at);
CREATE INDEX IF NOT EXISTS auth_audit_log_user_id_idx ON auth_audit_log (user_id, created_at);
