-- Times are INTEGER unix microseconds (UTC): exact, and ordered as numbers.
-- Address lists are JSON arrays of {"host","port"} in the order given.

CREATE TABLE platforms (
	id           TEXT    NOT NULL PRIMARY KEY,
	addresses    TEXT    NOT NULL,
	trust_anchor TEXT    NOT NULL DEFAULT '',
	updated_at   INTEGER NOT NULL
) STRICT;

-- No foreign key to platforms: a platform may claim devices before it
-- publishes its addresses. WITHOUT ROWID keeps each row in the primary-key
-- b-tree, so the bootstrap lookup by ESN is one tree search, not two.
CREATE TABLE devices (
	esn                   TEXT    NOT NULL PRIMARY KEY,
	platform_id           TEXT    NOT NULL,
	device_type           TEXT    NOT NULL,
	addresses             TEXT,             -- NULL: the platform's addresses apply
	claimed_at            INTEGER NOT NULL,
	last_bootstrap_at     INTEGER,          -- NULL: never asked
	bootstrap_count       INTEGER NOT NULL DEFAULT 0,
	last_mode             TEXT    NOT NULL DEFAULT '',
	last_software_version TEXT    NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

-- Serves a platform's listing in ESN order (the index carries the key).
CREATE INDEX devices_platform_esn ON devices (platform_id, esn);
