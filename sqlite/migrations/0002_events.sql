-- What platforms follow about their devices (GET /v1/events). AUTOINCREMENT
-- so that a sequence number is never reused after old events are pruned:
-- a follower's cursor must never point at a newer event than it saw.
CREATE TABLE events (
	seq              INTEGER PRIMARY KEY AUTOINCREMENT,
	platform_id      TEXT    NOT NULL,
	esn              TEXT    NOT NULL,
	kind             TEXT    NOT NULL,
	at               INTEGER NOT NULL,
	count            INTEGER NOT NULL,
	mode             TEXT    NOT NULL DEFAULT '',
	software_version TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX events_platform_seq ON events (platform_id, seq);
CREATE INDEX events_at ON events (at);
