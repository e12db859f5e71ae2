-- Mendix runtime OTA: a channel puts one deployment name of an app pair behind a host name, in
-- front of the real runtime.
CREATE TABLE mendix_channels (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL UNIQUE COLLATE NOCASE,
    upstream TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'serve',
    android_deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    ios_deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE
);

-- A Mendix release: the deployment ID compiled into its bundle, what it needs from the binary,
-- and the unguessable token of its download path.
ALTER TABLE releases ADD COLUMN mendix_deployment_id TEXT;
ALTER TABLE releases ADD COLUMN mendix_needs TEXT;
ALTER TABLE releases ADD COLUMN bundle_token TEXT;
CREATE INDEX releases_bundle_token ON releases (bundle_token);

-- A device is the gateway's cookie (stored hashed): what it was last told to run.
CREATE TABLE mendix_devices (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    current_label INTEGER,
    last_check INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, device)
);

-- Bundle downloads per device and release, for the inferred installs and failures.
CREATE TABLE mendix_downloads (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    label_number INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    last_download INTEGER NOT NULL,
    -- The network prefix of the last download (domain::network), for the health gate.
    prefix TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (deployment_id, device, label_number)
);

-- OTA checks per binary version, with and without the gateway's cookie.
CREATE TABLE mendix_checks (
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    native_binary_version TEXT NOT NULL,
    with_cookie INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, native_binary_version, with_cookie)
);

-- Observe mode: what the runtime itself answered to OTA checks.
CREATE TABLE mendix_observations (
    channel_id INTEGER NOT NULL REFERENCES mendix_channels(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    native_binary_version TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    bundle_path TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (channel_id, platform, native_binary_version, deployment_id, bundle_path)
);
