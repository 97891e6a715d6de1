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
