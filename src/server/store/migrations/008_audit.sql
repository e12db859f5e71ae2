-- The audit trail: one row per management mutation, never updated or deleted. App and account
-- are copied as text so entries outlive renames and deletions; app_id (no foreign key, for the
-- same reason) decides who may read an entry.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    key_name TEXT NOT NULL,
    client_ip TEXT,
    action TEXT NOT NULL,
    app_id INTEGER,
    app TEXT,
    deployment TEXT,
    label TEXT,
    target TEXT NOT NULL,
    before TEXT,
    after TEXT,
    reason TEXT
);
CREATE INDEX audit_log_app ON audit_log (app_id, time);
CREATE INDEX audit_log_account ON audit_log (account_id, time);

CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- A protected deployment (e.g. Production) takes changes only with a reason.
ALTER TABLE deployments ADD COLUMN is_protected INTEGER NOT NULL DEFAULT 0;

-- A collaborator's role caps the scopes of their keys on this app (space-separated scopes);
-- NULL: no cap. Owners are never capped.
ALTER TABLE collaborators ADD COLUMN role TEXT;
