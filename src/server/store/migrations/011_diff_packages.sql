-- Diff packages (CodePush protocol §3.8). A release gets a diff zip from each earlier package a
-- device may run; `diffs_built` is 0 until the server has built them (off the request path).
-- Releases from before this version count as built: they get no diffs.
ALTER TABLE releases ADD COLUMN diffs_built INTEGER NOT NULL DEFAULT 1;
CREATE TABLE release_diffs (
    release_id INTEGER NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    from_package_hash TEXT NOT NULL,
    blob_sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (release_id, from_package_hash)
);
CREATE INDEX release_diffs_blob ON release_diffs (blob_sha256);
-- The bundle a store build ships, as manifest lines (JSON list of "path:sha256"), and its package
-- hash: releases get diffs from it too.
ALTER TABLE binaries ADD COLUMN bundle_manifest TEXT;
ALTER TABLE binaries ADD COLUMN bundle_hash TEXT;
