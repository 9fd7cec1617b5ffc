package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcenter/regcenter"
)

// bootstrapQuery answers a switch in one read: the claim and, if its
// holder published one, the holder's record. pgx prepares it once per
// connection and keeps it in the connection's statement cache.
// Its first columns are deviceColumns, qualified.
const bootstrapQuery = `SELECT d.esn, d.platform_id, d.device_type, d.addresses, d.claimed_at,
		d.last_bootstrap_at, d.bootstrap_count, d.last_mode, d.last_software_version,
		p.addresses, p.trust_anchor, p.updated_at
	FROM devices AS d LEFT JOIN platforms AS p ON p.id = d.platform_id
	WHERE d.esn = $1`

// BootstrapTarget returns the claim on esn and its holder's record, or an
// error wrapping regcenter.ErrNotFound when nobody holds esn. The Platform
// is zero but for its ID when the holder never published.
func (db *DB) BootstrapTarget(ctx context.Context, esn string) (regcenter.Device, regcenter.Platform, error) {
	qctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var (
		pAddrs   []byte
		pTrust   *string
		pUpdated *time.Time
	)
	d, err := scanDevice(db.pool.QueryRow(qctx, bootstrapQuery, esn), &pAddrs, &pTrust, &pUpdated)
	if errors.Is(err, pgx.ErrNoRows) {
		return regcenter.Device{}, regcenter.Platform{}, fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
	}
	if err != nil {
		return regcenter.Device{}, regcenter.Platform{}, storeErr(ctx, "bootstrap target "+esn, err)
	}
	p := regcenter.Platform{ID: d.PlatformID}
	if pUpdated != nil {
		if p.Addresses, err = decodeAddresses(pAddrs); err != nil {
			return regcenter.Device{}, regcenter.Platform{}, fmt.Errorf("postgres: bootstrap target %s: platform %s: %w", esn, p.ID, err)
		}
		if pTrust != nil {
			p.TrustAnchor = *pTrust
		}
		p.UpdatedAt = pUpdated.UTC()
	}
	return d.ClaimOnly(), p, nil
}

// RecordBootstraps adds the records in one transaction, with one
// multi-row UPDATE for the devices and one INSERT for the events. The
// increment is done by the database (bootstrap_count + n), so batches of
// several replicas never lose one; the last_* columns change only for a
// record at least as new as what is stored (every SET expression sees the
// row as it was). A record whose PlatformID no longer holds the ESN matches
// no row, is dropped, and appends no event.
func (db *DB) RecordBootstraps(ctx context.Context, records []regcenter.BootstrapRecord) error {
	if len(records) == 0 {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	groups := distinctGroups(records)
	err := db.inTx(qctx, func(tx pgx.Tx) error {
		return recordBootstraps(qctx, tx, records, groups)
	})
	if err != nil {
		return storeErr(ctx, "record bootstraps", err)
	}
	return nil
}

func recordBootstraps(ctx context.Context, tx pgx.Tx, records []regcenter.BootstrapRecord, groups [][]int) error {
	// The counter's row lock, taken before anything else, queues the
	// transactions that write events: each takes its sequence numbers only
	// once the previous holder has committed, so numbers become visible in
	// increasing order (see the migration). Taken first, it also keeps two
	// replicas' flushes from deadlocking on the device rows they share.
	var last int64
	if err := tx.QueryRow(ctx, "SELECT last FROM event_counter WHERE id = 1 FOR UPDATE").Scan(&last); err != nil {
		return fmt.Errorf("event counter: %w", err)
	}

	var applied []int
	for _, idx := range groups {
		n := len(idx)
		esns, platforms, versions, modes := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ats, counts := make([]time.Time, n), make([]int64, n)
		for k, i := range idx {
			r := records[i]
			esns[k], platforms[k], ats[k], counts[k] = r.ESN, r.PlatformID, r.At, r.Count
			modes[k], versions[k] = string(r.Mode), r.SoftwareVersion
		}
		rows, err := tx.Query(ctx, `UPDATE devices AS d SET
			bootstrap_count       = d.bootstrap_count + r.n,
			last_bootstrap_at     = CASE WHEN d.last_bootstrap_at IS NULL OR r.at >= d.last_bootstrap_at THEN r.at ELSE d.last_bootstrap_at END,
			last_mode             = CASE WHEN d.last_bootstrap_at IS NULL OR r.at >= d.last_bootstrap_at THEN r.mode ELSE d.last_mode END,
			last_software_version = CASE WHEN d.last_bootstrap_at IS NULL OR r.at >= d.last_bootstrap_at THEN r.software_version ELSE d.last_software_version END
			FROM unnest($1::TEXT[], $2::TEXT[], $3::TIMESTAMPTZ[], $4::INT8[], $5::TEXT[], $6::TEXT[], $7::INT8[])
				AS r (esn, platform_id, at, n, mode, software_version, i)
			WHERE d.esn = r.esn AND d.platform_id = r.platform_id
			RETURNING r.i`,
			esns, platforms, ats, counts, modes, versions, idx)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		applied = append(applied, got...)
	}
	if len(applied) == 0 {
		return nil
	}

	// Events follow the batch's order.
	slices.Sort(applied)
	n := len(applied)
	seqs, esns, platforms, versions, modes := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats, counts := make([]time.Time, n), make([]int64, n)
	for k, i := range applied {
		r := records[i]
		seqs[k] = last + int64(k) + 1
		esns[k], platforms[k], ats[k], counts[k] = r.ESN, r.PlatformID, r.At, r.Count
		modes[k], versions[k] = string(r.Mode), r.SoftwareVersion
	}
	if _, err := tx.Exec(ctx, "UPDATE event_counter SET last = $1 WHERE id = 1", last+int64(n)); err != nil {
		return fmt.Errorf("event counter: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (seq, platform_id, esn, kind, at, count, mode, software_version)
		SELECT e.seq, e.platform_id, e.esn, $1::TEXT, e.at, e.n, e.mode, e.software_version
		FROM unnest($2::INT8[], $3::TEXT[], $4::TEXT[], $5::TIMESTAMPTZ[], $6::INT8[], $7::TEXT[], $8::TEXT[])
			AS e (seq, platform_id, esn, at, n, mode, software_version)`,
		string(regcenter.EventBootstrap), seqs, platforms, esns, ats, counts, modes, versions)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// distinctGroups splits the indexes of records, in ESN order, into groups
// that hold at most one record per device and platform: an UPDATE ... FROM
// applies a single source row to each target row, so a second record for
// one device in the same statement would be lost. The recorder merges
// records per device, so there is nearly always one group.
func distinctGroups(records []regcenter.BootstrapRecord) [][]int {
	order := make([]int, len(records))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ra, rb := records[a], records[b]
		return cmp.Or(strings.Compare(ra.ESN, rb.ESN), strings.Compare(ra.PlatformID, rb.PlatformID), cmp.Compare(a, b))
	})
	var groups [][]int
	g := 0
	for k, i := range order {
		if k > 0 {
			prev := records[order[k-1]]
			if prev.ESN == records[i].ESN && prev.PlatformID == records[i].PlatformID {
				g++ // the same device again: into the next group
			} else {
				g = 0
			}
		}
		if g == len(groups) {
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}
