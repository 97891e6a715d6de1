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
