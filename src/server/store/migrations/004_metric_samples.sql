-- Install counters over time: one row per label and time bucket. Buckets are minutes
-- (bucket_ms = 60000); buckets older than a day are compacted into hours (3600000).
CREATE TABLE metric_samples (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    bucket_start INTEGER NOT NULL,
    bucket_ms INTEGER NOT NULL,
    downloaded INTEGER NOT NULL DEFAULT 0,
    installed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, subject, bucket_start, bucket_ms)
);
