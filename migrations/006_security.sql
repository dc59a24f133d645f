-- Security (issue 7): the audit log becomes append-only and sessions learn when they
-- were last used, so an idle session expires before its absolute lifetime does.

-- The audit log is evidence of who saw whom: no connection of the application may
-- rewrite or erase it, whatever its privileges on the table. Rows are refused one by
-- one on UPDATE/DELETE and wholesale on TRUNCATE; only a superuser dropping the
-- trigger (an act outside the application, visible in the server's own logs) could.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
-- The application's own privileges say the same (belt and braces: the trigger holds
-- even for the owner, the REVOKE for any role granted access later through PUBLIC).
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- Filters of GET /api/v1/audit: by user and time.
CREATE INDEX audit_log_user_idx ON audit_log (user_id, at);

-- last_seen_at is touched at most once a minute by the session check (not on every
-- request: a write per tile would be a write per pan).
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
