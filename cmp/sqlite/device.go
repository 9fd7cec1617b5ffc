package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

const deviceColumns = `esn, device_type, center_state, detail, imported_at, claimed_at,
	last_center_query_at, center_queries, registered_at, remote_addr, software_version, last_heartbeat_at`

func scanDevice(row interface{ Scan(...any) error }) (cmp.Device, error) {
	var d cmp.Device
	var imported int64
	var claimed, query, registered, heartbeat sql.NullInt64
	err := row.Scan(&d.ESN, &d.DeviceType, &d.CenterState, &d.Detail, &imported, &claimed,
		&query, &d.CenterQueries, &registered, &d.RemoteAddr, &d.SoftwareVersion, &heartbeat)
	if err != nil {
		return cmp.Device{}, err
	}
	d.ImportedAt = time.UnixMicro(imported).UTC()
	d.ClaimedAt, d.LastCenterQuery = fromMicros(claimed), fromMicros(query)
	d.RegisteredAt, d.LastHeartbeatAt = fromMicros(registered), fromMicros(heartbeat)
	return d, nil
}

// queueSQL makes esn's outbox entry the given intent. REPLACE deletes the
// older entry and inserts a new row, so the new intent gets a new seq.
const queueSQL = `INSERT OR REPLACE INTO outbox (esn, op, device_type, queued_at) VALUES (?, ?, ?, ?)`

// ImportDevices stores items and their outbox claims in one transaction.
func (db *DB) ImportDevices(ctx context.Context, items []cmp.ImportItem, now time.Time) ([]regcenter.UploadOutcome, error) {
	outcomes, err := db.importDevices(ctx, items, now)
	if err != nil {
		return nil, storeErr(ctx, "import", err)
	}
	return outcomes, nil
}

func (db *DB) importDevices(ctx context.Context, items []cmp.ImportItem, now time.Time) ([]regcenter.UploadOutcome, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var stmts [4]*sql.Stmt
	for i, q := range []string{
		`SELECT device_type, center_state FROM devices WHERE esn = ?`,
		`INSERT INTO devices (esn, device_type, center_state, imported_at) VALUES (?, ?, ?, ?)`,
		// Claimed again, as a new import: the old answer no longer holds.
		`UPDATE devices SET device_type = ?, center_state = ?, detail = '', claimed_at = NULL WHERE esn = ?`,
		queueSQL,
	} {
		if stmts[i], err = tx.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		defer stmts[i].Close()
	}
	get, insert, update, queue := stmts[0], stmts[1], stmts[2], stmts[3]
	at := micros(now)
	outcomes := make([]regcenter.UploadOutcome, len(items))
	for i, it := range items {
		var typ, state string
		err := get.QueryRowContext(ctx, it.ESN).Scan(&typ, &state)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			outcomes[i] = regcenter.OutcomeCreated
			_, err = insert.ExecContext(ctx, it.ESN, it.DeviceType, cmpwire.StateImported, at)
		case err != nil:
		case typ != it.DeviceType:
			outcomes[i] = regcenter.OutcomeUpdated
			_, err = update.ExecContext(ctx, it.DeviceType, cmpwire.StateImported, it.ESN)
		case state == cmpwire.StateConflict || state == cmpwire.StateInvalid:
			outcomes[i] = regcenter.OutcomeUnchanged
			_, err = update.ExecContext(ctx, it.DeviceType, cmpwire.StateImported, it.ESN)
		default:
			outcomes[i] = regcenter.OutcomeUnchanged
			continue // imported (queued already) or claimed
		}
		if err == nil {
			_, err = queue.ExecContext(ctx, it.ESN, string(cmp.OpClaim), it.DeviceType, at)
		}
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", it.ESN, err)
		}
	}
	return outcomes, tx.Commit()
}

// Devices returns every device in ESN order.
func (db *DB) Devices(ctx context.Context) ([]cmp.Device, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+deviceColumns+" FROM devices ORDER BY esn")
	if err != nil {
		return nil, storeErr(ctx, "devices", err)
	}
	defer rows.Close()
	devs := []cmp.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, storeErr(ctx, "devices", err)
		}
		devs = append(devs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(ctx, "devices", err)
	}
	return devs, nil
}

// Device returns one device or an error wrapping regcenter.ErrNotFound.
func (db *DB) Device(ctx context.Context, esn string) (cmp.Device, error) {
	d, err := scanDevice(db.r.QueryRowContext(ctx, "SELECT "+deviceColumns+" FROM devices WHERE esn = ?", esn))
	if errors.Is(err, sql.ErrNoRows) {
		return cmp.Device{}, fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
	}
	if err != nil {
		return cmp.Device{}, storeErr(ctx, "device "+esn, err)
	}
	return d, nil
}

// DeleteDevice removes the device and queues its release.
func (db *DB) DeleteDevice(ctx context.Context, esn string, now time.Time) error {
	return db.write(ctx, "delete "+esn, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM devices WHERE esn = ?", esn)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, queueSQL, esn, string(cmp.OpRelease), "", micros(now))
		return err
	})
}

// Register records a registration, or returns ErrNotFound.
func (db *DB) Register(ctx context.Context, r cmp.Registration) error {
	return db.update(ctx, "register "+r.ESN, `UPDATE devices SET registered_at = ?, remote_addr = ?,
		software_version = ?, last_heartbeat_at = NULL WHERE esn = ?`,
		micros(r.At), r.RemoteAddr, r.SoftwareVersion, r.ESN)
}

// Heartbeat records a sign of life: ErrNotFound for a device not
// imported, ErrConflict for one not registered.
func (db *DB) Heartbeat(ctx context.Context, esn string, at time.Time) error {
	err := db.update(ctx, "heartbeat "+esn, `UPDATE devices SET last_heartbeat_at = ?
		WHERE esn = ? AND registered_at IS NOT NULL`, micros(at), esn)
	if !errors.Is(err, regcenter.ErrNotFound) {
		return err
	}
	if _, err := db.Device(ctx, esn); err != nil {
		return err
	}
	return fmt.Errorf("device %s is not registered: %w", esn, regcenter.ErrConflict)
}

// update runs one statement that must change a row, or reports
// ErrNotFound.
func (db *DB) update(ctx context.Context, op, query string, args ...any) error {
	res, err := db.w.ExecContext(ctx, query, args...)
	if err != nil {
		return storeErr(ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return storeErr(ctx, op, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", op, regcenter.ErrNotFound)
	}
	return nil
}

// write runs fn in a transaction and commits it. An error of fn that
// carries a domain kind is returned as it is.
func (db *DB) write(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return storeErr(ctx, op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		if errors.Is(err, regcenter.ErrNotFound) {
			return err
		}
		return storeErr(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return storeErr(ctx, op, err)
	}
	return nil
}
