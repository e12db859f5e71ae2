-- A paused (halted) release serves no new device; devices that have it keep it. Distinct from
-- is_disabled (devices are moved off it) and from a rollback (a new release).
ALTER TABLE releases ADD COLUMN is_paused INTEGER NOT NULL DEFAULT 0;
