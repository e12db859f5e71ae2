-- Status reports count only when plausible (see store::metrics). A device's download of a label is
-- its receipt; a success or failure for that label counts only with one.
CREATE TABLE download_receipts (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    client_unique_id TEXT NOT NULL,
    label_number INTEGER NOT NULL,
    prefix TEXT NOT NULL,
    PRIMARY KEY (deployment_id, client_unique_id, label_number)
);
-- Where a device was last counted as active, so only a device counted there can take one away.
CREATE TABLE device_positions (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    client_unique_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    PRIMARY KEY (deployment_id, client_unique_id)
);
-- The network prefixes (IPv4 /24, IPv6 /48) that verified failures of a label came from.
CREATE TABLE failure_prefixes (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    label_number INTEGER NOT NULL,
    prefix TEXT NOT NULL,
    PRIMARY KEY (deployment_id, label_number, prefix)
);
-- Reports that failed the plausibility checks, counted apart and never fed to the health gate.
ALTER TABLE metrics ADD COLUMN unverified INTEGER NOT NULL DEFAULT 0;
