package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/regcenter/regcenter"
)

// bootstrapQuery answers a switch in one read: the claim and, if its
// holder published one, the holder's record.
// Its first columns are deviceColumns, qualified.
const bootstrapQuery = `SELECT d.esn, d.platform_id, d.device_type, d.addresses, d.claimed_at,
		d.last_bootstrap_at, d.bootstrap_count, d.last_mode, d.last_software_version,
		p.addresses, p.trust_anchor, p.updated_at
	FROM devices AS d LEFT JOIN platforms AS p ON p.id = d.platform_id
	WHERE d.esn = ?`

// BootstrapTarget returns the claim on esn and its holder's record, or an
// error wrapping regcenter.ErrNotFound when nobody holds esn. The Platform
// is zero but for its ID when the holder never published.
//
// Answers come from the cache when they can; their slices are shared and
// must not be modified.
func (db *DB) BootstrapTarget(ctx context.Context, esn string) (regcenter.Device, regcenter.Platform, error) {
	cached, ok, gen := db.cache.get(esn)
	if ok {
		return cached.dev, cached.platform, nil
	}
	var (
		pAddrs, pTrust sql.NullString
		pUpdated       sql.NullInt64
	)
	d, err := scanDevice(db.bootstrap.QueryRowContext(ctx, esn), &pAddrs, &pTrust, &pUpdated)
	if errors.Is(err, sql.ErrNoRows) {
		return regcenter.Device{}, regcenter.Platform{}, fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
	}
	if err != nil {
		return regcenter.Device{}, regcenter.Platform{}, storeErr(ctx, "bootstrap target "+esn, err)
	}
	p := regcenter.Platform{ID: d.PlatformID}
	if pUpdated.Valid {
		if p.Addresses, err = decodeAddresses(pAddrs.String); err != nil {
			return regcenter.Device{}, regcenter.Platform{}, storeErr(ctx, "bootstrap target "+esn, fmt.Errorf("platform %s: %w", p.ID, err))
		}
		p.TrustAnchor = pTrust.String
		p.UpdatedAt = fromMicros(pUpdated.Int64)
	}
	d = d.ClaimOnly()
	db.cache.put(esn, cachedTarget{dev: d, platform: p}, gen)
	return d, p, nil
}

// RecordBootstraps adds the records in one transaction. The increment is
// done by SQLite, not read and written back, so concurrent batches never
// lose one; the last_* columns change only for a record at least as new as
// what is stored (every SET expression sees the row as it was). A record
// whose PlatformID no longer holds the ESN matches no row and is dropped.
func (db *DB) RecordBootstraps(ctx context.Context, records []regcenter.BootstrapRecord) error {
	if len(records) == 0 {
		return nil
	}
	// The statistics are not part of BootstrapTarget's answers, so the
	// cache stays as it is.
	if err := db.recordBootstraps(ctx, records); err != nil {
		return storeErr(ctx, "record bootstraps", err)
	}
	return nil
}

func (db *DB) recordBootstraps(ctx context.Context, records []regcenter.BootstrapRecord) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE devices SET
		bootstrap_count = bootstrap_count + ?1,
		last_bootstrap_at     = CASE WHEN last_bootstrap_at IS NULL OR ?2 >= last_bootstrap_at THEN ?2 ELSE last_bootstrap_at END,
		last_mode             = CASE WHEN last_bootstrap_at IS NULL OR ?2 >= last_bootstrap_at THEN ?3 ELSE last_mode END,
		last_software_version = CASE WHEN last_bootstrap_at IS NULL OR ?2 >= last_bootstrap_at THEN ?4 ELSE last_software_version END
		WHERE esn = ?5 AND platform_id = ?6`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	event, err := tx.PrepareContext(ctx, `INSERT INTO events (platform_id, esn, kind, at, count, mode, software_version)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer event.Close()
	for _, r := range records {
		res, err := stmt.ExecContext(ctx, r.Count, r.At.UnixMicro(), string(r.Mode), r.SoftwareVersion, r.ESN, r.PlatformID)
		if err != nil {
			return fmt.Errorf("device %s: %w", r.ESN, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue // released or claimed by another platform since
		}
		if _, err := event.ExecContext(ctx, r.PlatformID, r.ESN, string(regcenter.EventBootstrap), r.At.UnixMicro(), r.Count, string(r.Mode), r.SoftwareVersion); err != nil {
			return fmt.Errorf("event of %s: %w", r.ESN, err)
		}
	}
	return tx.Commit()
}
