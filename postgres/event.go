package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcenter/regcenter"
)

// pruneChunk is how many events one DELETE of PruneEvents removes: a
// backlog of millions goes in short transactions, each within the
// statement timeout, that hold few locks and give replication small
// pieces.
const pruneChunk = 10_000

// Events reads from any replica's pool. Sequence numbers become visible in
// increasing order (see RecordBootstraps), so a follower that resumes after
// the last one it saw never skips one.
func (db *DB) Events(ctx context.Context, platformID string, after int64, limit int) ([]regcenter.Event, error) {
	qctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	rows, err := db.pool.Query(qctx, `SELECT seq, esn, kind, at, count, mode, software_version
		FROM events WHERE platform_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, platformID, after, limit)
	if err != nil {
		return nil, storeErr(ctx, "events", err)
	}
	var (
		events []regcenter.Event
		e      = regcenter.Event{PlatformID: platformID}
		kind   string
		mode   string
		at     time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&e.Seq, &e.ESN, &kind, &at, &e.Count, &mode, &e.SoftwareVersion}, func() error {
		e.Kind, e.Mode, e.At = regcenter.EventKind(kind), regcenter.Mode(mode), at.UTC()
		events = append(events, e)
		return nil
	})
	if err != nil {
		return nil, storeErr(ctx, "events", err)
	}
	return events, nil
}

// PruneEvents deletes old events, pruneChunk at a time, and returns how
// many it deleted, including when it stops early on an error.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := db.pruneChunk(ctx, before)
		total += n
		if err != nil {
			return total, storeErr(ctx, "prune events", err)
		}
		if n < pruneChunk {
			return total, nil
		}
	}
}

func (db *DB) pruneChunk(ctx context.Context, before time.Time) (int64, error) {
	qctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	tag, err := db.pool.Exec(qctx, `DELETE FROM events WHERE seq IN
		(SELECT seq FROM events WHERE at < $1 LIMIT $2)`, before, pruneChunk)
	return tag.RowsAffected(), err
}
