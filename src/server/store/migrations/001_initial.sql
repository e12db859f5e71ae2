CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    created_time INTEGER NOT NULL
);

-- Secrets are never stored: key_hash is the SHA-256 of the access key.
CREATE TABLE access_keys (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    friendly_name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    is_session INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, friendly_name)
);

CREATE TABLE apps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_time INTEGER NOT NULL
);

CREATE TABLE collaborators (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    is_owner INTEGER NOT NULL,
    PRIMARY KEY (app_id, account_id)
);

CREATE TABLE deployments (
    id INTEGER PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    created_time INTEGER NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    label_number INTEGER NOT NULL,
    app_version TEXT NOT NULL,
    build_number TEXT,
    description TEXT NOT NULL,
    is_mandatory INTEGER NOT NULL,
    is_disabled INTEGER NOT NULL,
    rollout INTEGER,
    package_hash TEXT NOT NULL,
    blob_sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    release_method TEXT NOT NULL,
    original_label TEXT,
    original_deployment TEXT,
    released_by TEXT NOT NULL,
    upload_time INTEGER NOT NULL,
    UNIQUE (deployment_id, label_number)
);

-- subject is a label (v3) or a binary app version (1.0.0).
CREATE TABLE metrics (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    downloaded INTEGER NOT NULL DEFAULT 0,
    installed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, subject)
);

-- One row per distinct report a device sent, so a retried identical report counts once.
CREATE TABLE report_receipts (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    client_unique_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (deployment_id, client_unique_id, fingerprint)
);
