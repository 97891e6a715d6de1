-- AuthGate migration 001: Better Auth's tables, as this deployment names them.
-- Column names are Better Auth's own (camelCase, so double-quoted); point Better Auth at these
-- tables with modelName: user "better_auth_users", session "better_auth_sessions", account
-- "better_auth_accounts", verification "better_auth_verification_tokens" (jwks keeps its name).
-- Timestamps are timestamptz. Every statement is idempotent, so a database prepared by hand
-- from deploy/sql can still be handed to `authgate db migrate`, which then only records it.
CREATE TABLE IF NOT EXISTS better_auth_users (
    id text PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    "emailVerified" boolean NOT NULL DEFAULT false,
    image text,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS better_auth_sessions (
    id text PRIMARY KEY,
    "expiresAt" timestamptz NOT NULL,
    token text NOT NULL UNIQUE,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "ipAddress" text,
    "userAgent" text,
    "userId" text NOT NULL REFERENCES better_auth_users (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS better_auth_sessions_user_id_idx ON better_auth_sessions ("userId");
CREATE INDEX IF NOT EXISTS better_auth_sessions_expires_at_idx ON better_auth_sessions ("expiresAt");

CREATE TABLE IF NOT EXISTS better_auth_accounts (
    id text PRIMARY KEY,
    "accountId" text NOT NULL,
    "providerId" text NOT NULL,
    "userId" text NOT NULL REFERENCES better_auth_users (id) ON DELETE CASCADE,
    "accessToken" text,
    "refreshToken" text,
    "idToken" text,
    "accessTokenExpiresAt" timestamptz,
    "refreshTokenExpiresAt" timestamptz,
    scope text,
    password text,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS better_auth_accounts_user_id_idx ON better_auth_accounts ("userId");

CREATE TABLE IF NOT EXISTS better_auth_verification_tokens (
    id text PRIMARY KEY,
    identifier text NOT NULL,
    value text NOT NULL,
    "expiresAt" timestamptz NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS better_auth_verification_tokens_identifier_idx
    ON better_auth_verification_tokens (identifier);

-- The JWT plugin's signing keys (GET /api/auth/jwks).
CREATE TABLE IF NOT EXISTS jwks (
    id text PRIMARY KEY,
    "publicKey" text NOT NULL,
    "privateKey" text NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "expiresAt" timestamptz
);
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
-- AuthGate migration 003: where each legacy user stands in the move to Better Auth.
-- migration_status is 'pending' until `authgate users migrate` has created the user's Better
-- Auth user and credential account; last_auth_method is the method of the user's last
-- successful authentication ('legacy' or 'better-auth'). The (migration_status, id) index
-- serves both the batches of `authgate users migrate` and the per-status counts.
-- The legacy table must exist: this migration never creates it.
DO $$
BEGIN
    IF to_regclass('users') IS NULL THEN
        RAISE EXCEPTION 'the legacy table "users" does not exist in this database (search_path %)',
            current_setting('search_path')
            USING HINT = 'Run authgate db migrate against the legacy backend''s database.';
    END IF;
END
$$;

ALTER TABLE users
    ADD COLUMN IF NOT EXISTS migration_status text NOT NULL DEFAULT 'pending'
        CONSTRAINT users_migration_status_check CHECK (migration_status IN ('pending', 'migrated'));
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_auth_method text;
CREATE INDEX IF NOT EXISTS users_migration_status_id_idx ON users (migration_status, id);
CREATE INDEX IF NOT EXISTS users_last_auth_method_idx ON users (last_auth_method);
-- AuthGate migration 004: failed logins per account, shared by every gateway instance
-- (lockout.store: postgres). account_key is the SHA-256 (hex) of the lower-cased email, never the
-- email itself; failures counts the failures of the window that ends at window_ends_at. A row
-- whose window has passed means the same as no row; the gateways delete such rows now and then.
CREATE TABLE IF NOT EXISTS authgate_lockout_failures (
    account_key text PRIMARY KEY,
    failures integer NOT NULL,
    window_ends_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS authgate_lockout_failures_window_ends_at_idx
    ON authgate_lockout_failures (window_ends_at);
