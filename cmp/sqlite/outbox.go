package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

// Outbox returns at most limit entries, oldest first.
func (db *DB) Outbox(ctx context.Context, limit int) ([]cmp.OutboxEntry, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT seq, esn, op, device_type, queued_at FROM outbox ORDER BY seq LIMIT ?", limit)
	if err != nil {
		return nil, storeErr(ctx, "outbox", err)
	}
	defer rows.Close()
	var entries []cmp.OutboxEntry
	for rows.Next() {
		var e cmp.OutboxEntry
		var op string
		var queued int64
		if err := rows.Scan(&e.Seq, &e.ESN, &op, &e.DeviceType, &queued); err != nil {
			return nil, storeErr(ctx, "outbox", err)
		}
		e.Op, e.QueuedAt = cmp.Op(op), time.UnixMicro(queued).UTC()
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(ctx, "outbox", err)
	}
	return entries, nil
}

// Acknowledge removes the entries and applies their states, in one
// transaction; an ack for an entry replaced since changes nothing.
func (db *DB) Acknowledge(ctx context.Context, acks []cmp.Ack, now time.Time) error {
	if len(acks) == 0 {
		return nil
	}
	return db.write(ctx, "acknowledge", func(tx *sql.Tx) error {
		del, err := tx.PrepareContext(ctx, "DELETE FROM outbox WHERE seq = ?")
		if err != nil {
			return err
		}
		defer del.Close()
		set, err := tx.PrepareContext(ctx, `UPDATE devices SET center_state = ?1, detail = ?2,
			claimed_at = CASE WHEN ?1 = ?3 THEN coalesce(claimed_at, ?4) END WHERE esn = ?5`)
		if err != nil {
			return err
		}
		defer set.Close()
		for _, a := range acks {
			res, err := del.ExecContext(ctx, a.Seq)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 || a.State == "" {
				continue
			}
			if _, err := set.ExecContext(ctx, a.State, a.Detail, cmpwire.StateClaimed, micros(now), a.ESN); err != nil {
				return err
			}
		}
		return nil
	})
}

// EventCursor returns the stored cursor, "" before the first event.
func (db *DB) EventCursor(ctx context.Context) (string, error) {
	var c string
	err := db.r.QueryRowContext(ctx, "SELECT cursor FROM event_cursor WHERE id = 1").Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", storeErr(ctx, "event cursor", err)
	}
	return c, nil
}

// ApplyEvent adds e to its device's statistics and stores its cursor, in
// one transaction.
func (db *DB) ApplyEvent(ctx context.Context, e regcenter.Event) error {
	return db.write(ctx, "apply event "+e.Cursor(), func(tx *sql.Tx) error {
		// An event may arrive out of time order (merged bootstraps): the
		// latest time wins, every count adds up.
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET
			last_center_query_at = max(coalesce(last_center_query_at, 0), ?),
			center_queries = center_queries + ? WHERE esn = ?`, micros(e.At), e.Count, e.ESN); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO event_cursor (id, cursor) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor`, e.Cursor())
		return err
	})
}
