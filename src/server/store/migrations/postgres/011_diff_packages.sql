-- Diff packages: see ../011_diff_packages.sql. Rows are written with the release row's
-- `diffs_built` update (or insert), whose trigger tells the replicas.
ALTER TABLE releases ADD COLUMN diffs_built BIGINT NOT NULL DEFAULT 1;
CREATE TABLE release_diffs (
    release_id BIGINT NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    from_package_hash TEXT NOT NULL,
    blob_sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (release_id, from_package_hash)
);
CREATE INDEX release_diffs_blob ON release_diffs (blob_sha256);
-- The bundle a store build ships, as manifest lines (JSON list of "path:sha256"), and its package
-- hash: releases get diffs from it too.
ALTER TABLE binaries ADD COLUMN bundle_manifest TEXT;
ALTER TABLE binaries ADD COLUMN bundle_hash TEXT;
