-- Times are INTEGER unix microseconds (UTC), as in the center's store.

CREATE TABLE devices (
	esn                  TEXT    NOT NULL PRIMARY KEY,
	device_type          TEXT    NOT NULL,
	center_state         TEXT    NOT NULL,          -- imported, claimed, conflict, invalid
	detail               TEXT    NOT NULL DEFAULT '',
	imported_at          INTEGER NOT NULL,
	claimed_at           INTEGER,
	last_center_query_at INTEGER,
	center_queries       INTEGER NOT NULL DEFAULT 0,
	registered_at        INTEGER,
	remote_addr          TEXT    NOT NULL DEFAULT '',
	software_version     TEXT    NOT NULL DEFAULT '',
	last_heartbeat_at    INTEGER
) STRICT, WITHOUT ROWID;

-- What the center has not acknowledged yet: one entry per ESN, the latest
-- intent. AUTOINCREMENT so that a replaced entry's seq is never reused: an
-- answer to the old entry must not remove the new one.
CREATE TABLE outbox (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	esn         TEXT    NOT NULL UNIQUE,
	op          TEXT    NOT NULL,                   -- claim, release
	device_type TEXT    NOT NULL DEFAULT '',
	queued_at   INTEGER NOT NULL
) STRICT;

-- The event stream's cursor: one row, written with the updates it caused.
CREATE TABLE event_cursor (
	id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	cursor TEXT    NOT NULL
) STRICT;
