-- Rollout policies (schedule + health gate) per deployment, and an audit log of automatic and manual
-- rollout actions. rollout_changed_time is when a release's rollout last changed (NULL: upload time).
CREATE TABLE rollout_policies (
    deployment_id INTEGER PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
    policy TEXT NOT NULL
);
CREATE TABLE release_events (
    id INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    label_number INTEGER NOT NULL,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
ALTER TABLE releases ADD COLUMN rollout_changed_time INTEGER;
