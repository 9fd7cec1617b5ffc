-- Times are TIMESTAMPTZ: microseconds, as exact as the SQLite store's
-- integers, and readable in psql by the operator of a shared database.
-- Address lists are JSONB arrays of {"host","port"}; JSONB keeps array
-- order, which is all the order an address list has.
--
-- Every ESN and platform ID column is COLLATE "C": "ESN order" is bytewise
-- (cursors mean the same on every store), whatever collation the database
-- was created with, and the primary key's b-tree compares with memcmp. The
-- queries carry no COLLATE of their own, so that they stay portable (see
-- docs/decisions/0006-scaling-out.md).

CREATE TABLE platforms (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	addresses    JSONB            NOT NULL,
	trust_anchor TEXT             NOT NULL DEFAULT '',
	updated_at   TIMESTAMPTZ      NOT NULL
);

-- No foreign key to platforms: a platform may claim devices before it
-- publishes its addresses. The fill factor leaves room on each page so that
-- the bootstrap statistics, updated in every flush, are HOT updates that
-- leave the indexes alone.
CREATE TABLE devices (
	esn                   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	platform_id           TEXT COLLATE "C" NOT NULL,
	device_type           TEXT             NOT NULL,
	addresses             JSONB,                      -- NULL: the platform's addresses apply
	claimed_at            TIMESTAMPTZ      NOT NULL,
	last_bootstrap_at     TIMESTAMPTZ,                -- NULL: never asked
	bootstrap_count       BIGINT           NOT NULL DEFAULT 0,
	last_mode             TEXT             NOT NULL DEFAULT '',
	last_software_version TEXT             NOT NULL DEFAULT ''
) WITH (fillfactor = 90);

-- Serves a platform's listing in ESN order.
CREATE INDEX devices_platform_esn ON devices (platform_id, esn);

-- The last event sequence number handed out. Not a SEQUENCE: nextval()
-- hands out numbers in the order transactions ask, not the order they
-- commit, and a follower that read seq 11 before seq 10 committed would
-- skip 10 for good. Writers of events update this one row first, so they
-- commit in the order of their numbers.
CREATE TABLE event_counter (
	id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	last BIGINT  NOT NULL
);
INSERT INTO event_counter (id, last) VALUES (1, 0);

-- What platforms follow about their devices (GET /v1/events). Numbers are
-- never reused after old events are pruned, since the counter only grows.
CREATE TABLE events (
	seq              BIGINT           NOT NULL PRIMARY KEY,
	platform_id      TEXT COLLATE "C" NOT NULL,
	esn              TEXT COLLATE "C" NOT NULL,
	kind             TEXT             NOT NULL,
	at               TIMESTAMPTZ      NOT NULL,
	count            BIGINT           NOT NULL,
	mode             TEXT             NOT NULL DEFAULT '',
	software_version TEXT             NOT NULL DEFAULT ''
);

CREATE INDEX events_platform_seq ON events (platform_id, seq);
CREATE INDEX events_at ON events (at);
