-- Store builds of an app and the native fingerprint each was built from (otadeck extension).
CREATE TABLE binaries (
    id INTEGER PRIMARY KEY,
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    app_version TEXT NOT NULL,
    build_number INTEGER,
    fingerprint TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    created_time INTEGER NOT NULL
);
CREATE UNIQUE INDEX binaries_identity ON binaries (app_id, platform, app_version, IFNULL(build_number, -1));
