-- Mendix model snapshots (compact JSON, see domain::model_diff): the model a store build was made
-- from, and the model each Mendix bundle was built from, keyed by its package hash so that promoted
-- and rolled-back copies of a release keep it.
ALTER TABLE binaries ADD COLUMN mendix_model TEXT;
CREATE TABLE release_models (
    app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    package_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    PRIMARY KEY (app_id, package_hash)
);
