package sqlite

import (
	"context"
	"time"

	"github.com/regcenter/regcenter"
)

// Events reads the read pool; SQLite's single writer makes sequence numbers
// visible in order, so a follower never skips one.
func (db *DB) Events(ctx context.Context, platformID string, after int64, limit int) ([]regcenter.Event, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT seq, esn, kind, at, count, mode, software_version
		FROM events WHERE platform_id = ? AND seq > ? ORDER BY seq LIMIT ?`, platformID, after, limit)
	if err != nil {
		return nil, storeErr(ctx, "events", err)
	}
	defer rows.Close()
	var events []regcenter.Event
	for rows.Next() {
		e := regcenter.Event{PlatformID: platformID}
		var at int64
		var kind, mode string
		if err := rows.Scan(&e.Seq, &e.ESN, &kind, &at, &e.Count, &mode, &e.SoftwareVersion); err != nil {
			return nil, storeErr(ctx, "events", err)
		}
		e.Kind, e.Mode, e.At = regcenter.EventKind(kind), regcenter.Mode(mode), fromMicros(at)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(ctx, "events", err)
	}
	return events, nil
}

// PruneEvents deletes old events in one statement.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM events WHERE at < ?`, before.UnixMicro())
	if err != nil {
		return 0, storeErr(ctx, "prune events", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, storeErr(ctx, "prune events", err)
	}
	return n, nil
}
