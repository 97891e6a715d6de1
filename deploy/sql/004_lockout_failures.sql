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
