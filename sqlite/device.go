package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
)

// lookupChunk is how many ESNs one "esn IN (...)" reads. Larger chunks mean
// fewer round trips into the driver; SQLite allows 32,766 parameters, and a
// few hundred already makes the per-statement cost negligible.
const lookupChunk = 500

const deviceColumns = `esn, platform_id, device_type, addresses, claimed_at,
	last_bootstrap_at, bootstrap_count, last_mode, last_software_version`

// held is what ClaimDevices needs to know of an existing claim.
type held struct {
	platformID string
	deviceType string
	addresses  sql.NullString
}

// ClaimDevices applies claims for platformID in one durable transaction.
// outcomes[i] is claims[i]'s. On error nothing was stored.
func (db *DB) ClaimDevices(ctx context.Context, platformID string, claims []regcenter.DeviceClaim, now time.Time) ([]regcenter.UploadOutcome, error) {
	if len(claims) == 0 {
		return []regcenter.UploadOutcome{}, nil
	}
	outcomes, err := db.claimDevices(ctx, platformID, claims, now)
	esns := make([]string, len(claims))
	for i, c := range claims {
		esns[i] = c.ESN
	}
	db.cache.forget(esns...)
	if err != nil {
		return nil, storeErr(ctx, "claim devices for "+platformID, err)
	}
	return outcomes, nil
}

func (db *DB) claimDevices(ctx context.Context, platformID string, claims []regcenter.DeviceClaim, now time.Time) ([]regcenter.UploadOutcome, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	existing, err := lookupHeld(ctx, tx, claims)
	if err != nil {
		return nil, err
	}

	// Prepared lazily: a re-upload of unchanged devices needs neither.
	var insert, update *sql.Stmt
	defer func() {
		if insert != nil {
			insert.Close()
		}
		if update != nil {
			update.Close()
		}
	}()
	claimedAt := now.UnixMicro()
	outcomes := make([]regcenter.UploadOutcome, len(claims))
	for i, c := range claims {
		h, ok := existing[c.ESN]
		switch {
		case !ok:
			outcomes[i] = regcenter.OutcomeCreated
		case h.platformID != platformID:
			outcomes[i] = regcenter.OutcomeConflict
			continue
		default:
			addrs, err := decodeAddresses(h.addresses.String)
			if err != nil {
				return nil, fmt.Errorf("device %s: %w", c.ESN, err)
			}
			outcomes[i] = c.Outcome(regcenter.Device{ESN: c.ESN, PlatformID: h.platformID, DeviceType: h.deviceType, Addresses: addrs})
			if outcomes[i] == regcenter.OutcomeUnchanged {
				continue
			}
		}

		addrs, err := deviceAddresses(c.Addresses)
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", c.ESN, err)
		}
		if outcomes[i] == regcenter.OutcomeCreated {
			if insert == nil {
				if insert, err = tx.PrepareContext(ctx, `INSERT INTO devices (esn, platform_id, device_type, addresses, claimed_at)
					VALUES (?, ?, ?, ?, ?)`); err != nil {
					return nil, err
				}
			}
			_, err = insert.ExecContext(ctx, c.ESN, platformID, c.DeviceType, addrs, claimedAt)
		} else {
			if update == nil {
				// The holder was read in this transaction, which holds the
				// write lock; platform_id here only guards against a slip.
				if update, err = tx.PrepareContext(ctx, `UPDATE devices SET device_type = ?, addresses = ?
					WHERE esn = ? AND platform_id = ?`); err != nil {
					return nil, err
				}
			}
			_, err = update.ExecContext(ctx, c.DeviceType, addrs, c.ESN, platformID)
		}
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", c.ESN, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return outcomes, nil
}

// lookupHeld reads the existing claims on the ESNs of claims, whoever holds
// them, lookupChunk ESNs per query.
func lookupHeld(ctx context.Context, tx *sql.Tx, claims []regcenter.DeviceClaim) (map[string]held, error) {
	existing := make(map[string]held)
	var full *sql.Stmt // the statement for a whole chunk, reused
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, min(lookupChunk, len(claims)))
	for start := 0; start < len(claims); start += lookupChunk {
		chunk := claims[start:min(start+lookupChunk, len(claims))]
		args = args[:0]
		for _, c := range chunk {
			args = append(args, c.ESN)
		}
		query := "SELECT esn, platform_id, device_type, addresses FROM devices WHERE esn IN (?" +
			strings.Repeat(", ?", len(chunk)-1) + ")"
		var rows *sql.Rows
		var err error
		if len(chunk) == lookupChunk {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, query); err != nil {
					return nil, err
				}
			}
			rows, err = full.QueryContext(ctx, args...)
		} else {
			rows, err = tx.QueryContext(ctx, query, args...)
		}
		if err != nil {
			return nil, err
		}
		if err := scanHeld(rows, existing); err != nil {
			return nil, err
		}
	}
	return existing, nil
}

func scanHeld(rows *sql.Rows, into map[string]held) error {
	defer rows.Close()
	for rows.Next() {
		var esn string
		var h held
		if err := rows.Scan(&esn, &h.platformID, &h.deviceType, &h.addresses); err != nil {
			return err
		}
		into[esn] = h
	}
	return rows.Err()
}

// Device returns platformID's device esn, or an error wrapping
// regcenter.ErrNotFound when it is absent or another platform's.
func (db *DB) Device(ctx context.Context, platformID, esn string) (regcenter.Device, error) {
	row := db.r.QueryRowContext(ctx, "SELECT "+deviceColumns+" FROM devices WHERE esn = ? AND platform_id = ?", esn, platformID)
	d, err := scanDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return regcenter.Device{}, fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
	}
	if err != nil {
		return regcenter.Device{}, storeErr(ctx, "device "+esn, err)
	}
	return d, nil
}

// Devices returns at most limit of platformID's devices whose ESN sorts
// (bytewise) after after, in ESN order.
func (db *DB) Devices(ctx context.Context, platformID, after string, limit int) ([]regcenter.Device, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, "SELECT "+deviceColumns+` FROM devices
		WHERE platform_id = ? AND esn > ? ORDER BY esn LIMIT ?`, platformID, after, limit)
	if err != nil {
		return nil, storeErr(ctx, "devices of "+platformID, err)
	}
	defer rows.Close()
	var devs []regcenter.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, storeErr(ctx, "devices of "+platformID, err)
		}
		devs = append(devs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, storeErr(ctx, "devices of "+platformID, err)
	}
	return devs, nil
}

// ReleaseDevice durably deletes platformID's claim on esn, or returns an
// error wrapping regcenter.ErrNotFound.
func (db *DB) ReleaseDevice(ctx context.Context, platformID, esn string) error {
	res, err := db.w.ExecContext(ctx, "DELETE FROM devices WHERE esn = ? AND platform_id = ?", esn, platformID)
	db.cache.forget(esn)
	if err != nil {
		return storeErr(ctx, "release device "+esn, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return storeErr(ctx, "release device "+esn, err)
	}
	if n == 0 {
		return fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
	}
	return nil
}

type scanner interface {
	Scan(dest ...any) error
}

// scanDevice reads the deviceColumns, followed by dest.
func scanDevice(s scanner, dest ...any) (regcenter.Device, error) {
	var (
		d         regcenter.Device
		addrs     sql.NullString
		claimedAt int64
		lastAt    sql.NullInt64
		mode      string
	)
	all := append([]any{&d.ESN, &d.PlatformID, &d.DeviceType, &addrs, &claimedAt,
		&lastAt, &d.BootstrapCount, &mode, &d.LastSoftwareVersion}, dest...)
	if err := s.Scan(all...); err != nil {
		return regcenter.Device{}, err
	}
	var err error
	if d.Addresses, err = decodeAddresses(addrs.String); err != nil {
		return regcenter.Device{}, fmt.Errorf("device %s: %w", d.ESN, err)
	}
	d.ClaimedAt = fromMicros(claimedAt)
	if lastAt.Valid {
		d.LastBootstrapAt = fromMicros(lastAt.Int64)
	}
	d.LastMode = regcenter.Mode(mode)
	return d, nil
}
