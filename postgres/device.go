package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regcenter/regcenter"
)

const deviceColumns = `esn, platform_id, device_type, addresses, claimed_at,
	last_bootstrap_at, bootstrap_count, last_mode, last_software_version`

// maxClaimRounds bounds how often ClaimDevices goes back for claims whose
// row disappeared between two of its statements (another platform
// released it). Once is rare; more would take a release racing the upload
// again and again.
const maxClaimRounds = 4

// errLostRace: another transaction inserted a claim on an ESN this one had
// just read as free. Running the transaction again reads that claim.
var errLostRace = errors.New("a concurrent upload claimed one of the ESNs first")

// ClaimDevices applies claims for platformID in one durable transaction of
// a few multi-row statements, whatever the number of claims: it reads the
// existing claims on the ESNs, inserts the absent ones, and updates those
// of platformID that changed. outcomes[i] is claims[i]'s; on error nothing
// was stored.
//
// The insert is a plain INSERT, not INSERT ... ON CONFLICT DO NOTHING,
// which costs PostgreSQL a speculative insertion per row (about a third
// more for a bulk upload). When a concurrent upload inserts one of the
// ESNs between the read and the insert, the insert waits for it and then
// fails on the primary key, and the whole transaction runs again: its read
// then sees the other upload's claim. Claims are handled in ESN order, so
// that two uploads with overlapping ESNs take their locks in one order and
// one waits for the other instead of deadlocking.
func (db *DB) ClaimDevices(ctx context.Context, platformID string, claims []regcenter.DeviceClaim, now time.Time) ([]regcenter.UploadOutcome, error) {
	if len(claims) == 0 {
		return []regcenter.UploadOutcome{}, nil
	}
	qctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	order := make([]int, len(claims))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(claims[a].ESN, claims[b].ESN) })

	var outcomes []regcenter.UploadOutcome
	err := db.inTx(qctx, func(tx pgx.Tx) error {
		var err error
		outcomes, err = claimDevices(qctx, tx, platformID, claims, order, now)
		return err
	})
	if err != nil {
		return nil, storeErr(ctx, "claim devices for "+platformID, err)
	}
	return outcomes, nil
}

// heldClaim is what ClaimDevices needs to know of an existing claim.
type heldClaim struct {
	platformID string
	deviceType string
	addresses  []byte
}

func claimDevices(ctx context.Context, tx pgx.Tx, platformID string, claims []regcenter.DeviceClaim, order []int, now time.Time) ([]regcenter.UploadOutcome, error) {
	outcomes := make([]regcenter.UploadOutcome, len(claims))
	pending := order // a subsequence of order stays in ESN order
	for round := 0; len(pending) > 0; round++ {
		if round == maxClaimRounds {
			return nil, fmt.Errorf("%d claims kept changing hands during the upload", len(pending))
		}
		held, err := readClaims(ctx, tx, claims, pending)
		if err != nil {
			return nil, err
		}
		var absent, changed []int
		for _, i := range pending {
			c := claims[i]
			h, ok := held[c.ESN]
			switch {
			case !ok:
				absent = append(absent, i)
				outcomes[i] = regcenter.OutcomeCreated
			case h.platformID != platformID:
				outcomes[i] = regcenter.OutcomeConflict
			default:
				addrs, err := decodeAddresses(h.addresses)
				if err != nil {
					return nil, fmt.Errorf("device %s: %w", c.ESN, err)
				}
				outcomes[i] = c.Outcome(regcenter.Device{ESN: c.ESN, PlatformID: h.platformID, DeviceType: h.deviceType, Addresses: addrs})
				if outcomes[i] == regcenter.OutcomeUpdated {
					changed = append(changed, i)
				}
			}
		}
		if len(absent) > 0 {
			if err := insertClaims(ctx, tx, platformID, claims, absent, now); err != nil {
				return nil, err
			}
		}
		pending = nil
		if len(changed) > 0 {
			// Those released since the read are claimed afresh.
			if pending, err = updateClaims(ctx, tx, platformID, claims, changed); err != nil {
				return nil, err
			}
		}
	}
	return outcomes, nil
}

// claimColumns are the per-claim arrays of the statements that write
// claims, in the order of idx.
func claimColumns(claims []regcenter.DeviceClaim, idx []int) (esns, types []string, addrs []*string, err error) {
	esns = make([]string, len(idx))
	types = make([]string, len(idx))
	addrs = make([]*string, len(idx))
	for k, i := range idx {
		c := claims[i]
		esns[k], types[k] = c.ESN, c.DeviceType
		if addrs[k], err = deviceAddresses(c.Addresses); err != nil {
			return nil, nil, nil, fmt.Errorf("device %s: %w", c.ESN, err)
		}
	}
	return esns, types, addrs, nil
}

// readClaims reads the existing claims on the ESNs of idx, whoever holds
// them, in one statement.
func readClaims(ctx context.Context, tx pgx.Tx, claims []regcenter.DeviceClaim, idx []int) (map[string]heldClaim, error) {
	esns := make([]string, len(idx))
	for k, i := range idx {
		esns[k] = claims[i].ESN
	}
	rows, err := tx.Query(ctx, `SELECT esn, platform_id, device_type, addresses FROM devices WHERE esn = ANY($1::TEXT[])`, esns)
	if err != nil {
		return nil, err
	}
	held := make(map[string]heldClaim, len(idx))
	var (
		esn string
		h   heldClaim
	)
	_, err = pgx.ForEachRow(rows, []any{&esn, &h.platformID, &h.deviceType, &h.addresses}, func() error {
		held[esn] = h // pgx gives each row its own addresses slice
		return nil
	})
	return held, err
}

// insertClaims inserts the claims of idx, read as absent, in one
// statement.
func insertClaims(ctx context.Context, tx pgx.Tx, platformID string, claims []regcenter.DeviceClaim, idx []int, now time.Time) error {
	esns, types, addrs, err := claimColumns(claims, idx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO devices (esn, platform_id, device_type, addresses, claimed_at)
		SELECT c.esn, $1::TEXT, c.device_type, c.addresses::JSONB, $2::TIMESTAMPTZ
		FROM unnest($3::TEXT[], $4::TEXT[], $5::TEXT[]) AS c (esn, device_type, addresses)`,
		platformID, now, esns, types, addrs)
	var pgErr *pgconn.PgError
	// The primary key is the table's only unique constraint.
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %w", errLostRace, err)
	}
	return err
}

// updateClaims writes the claims of idx, which platformID held when they
// were read. It first locks the rows still held, in ESN order, so that
// concurrent uploads of one platform cannot deadlock on them, and returns
// the claims whose row is gone or changed hands since, in ESN order.
func updateClaims(ctx context.Context, tx pgx.Tx, platformID string, claims []regcenter.DeviceClaim, idx []int) (gone []int, err error) {
	esns := make([]string, len(idx))
	for k, i := range idx {
		esns[k] = claims[i].ESN
	}
	rows, err := tx.Query(ctx, `SELECT esn FROM devices WHERE esn = ANY($1::TEXT[]) AND platform_id = $2::TEXT
		ORDER BY esn FOR UPDATE`, esns, platformID)
	if err != nil {
		return nil, err
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	lockedSet := make(map[string]struct{}, len(locked))
	for _, esn := range locked {
		lockedSet[esn] = struct{}{}
	}
	var write []int
	for _, i := range idx {
		if _, ok := lockedSet[claims[i].ESN]; ok {
			write = append(write, i)
		} else {
			gone = append(gone, i)
		}
	}
	if len(write) == 0 {
		return gone, nil
	}
	esns, types, addrs, err := claimColumns(claims, write)
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(ctx, `UPDATE devices AS d SET device_type = c.device_type, addresses = c.addresses::JSONB
		FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[]) AS c (esn, device_type, addresses)
		WHERE d.esn = c.esn AND d.platform_id = $4::TEXT`,
		esns, types, addrs, platformID)
	return gone, err
}

// Device returns platformID's device esn, or an error wrapping
// regcenter.ErrNotFound when it is absent or another platform's.
func (db *DB) Device(ctx context.Context, platformID, esn string) (regcenter.Device, error) {
	qctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	row := db.pool.QueryRow(qctx, "SELECT "+deviceColumns+" FROM devices WHERE esn = $1 AND platform_id = $2", esn, platformID)
	d, err := scanDevice(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return regcenter.Device{}, fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
	}
	if err != nil {
		return regcenter.Device{}, storeErr(ctx, "device "+esn, err)
	}
	return d, nil
}

// Devices returns at most limit of platformID's devices whose ESN sorts
// (bytewise: the columns are COLLATE "C") after after, in ESN order.
func (db *DB) Devices(ctx context.Context, platformID, after string, limit int) ([]regcenter.Device, error) {
	if limit <= 0 {
		return nil, nil
	}
	qctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	rows, err := db.pool.Query(qctx, "SELECT "+deviceColumns+` FROM devices
		WHERE platform_id = $1 AND esn > $2 ORDER BY esn LIMIT $3`, platformID, after, limit)
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
	qctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	tag, err := db.pool.Exec(qctx, "DELETE FROM devices WHERE esn = $1 AND platform_id = $2", esn, platformID)
	if err != nil {
		return storeErr(ctx, "release device "+esn, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("device %s: %w", esn, regcenter.ErrNotFound)
	}
	return nil
}

// scanDevice reads the deviceColumns, followed by dest.
func scanDevice(row pgx.Row, dest ...any) (regcenter.Device, error) {
	var (
		d         regcenter.Device
		addrs     []byte
		claimedAt time.Time
		lastAt    *time.Time
		mode      string
	)
	all := append([]any{&d.ESN, &d.PlatformID, &d.DeviceType, &addrs, &claimedAt,
		&lastAt, &d.BootstrapCount, &mode, &d.LastSoftwareVersion}, dest...)
	if err := row.Scan(all...); err != nil {
		return regcenter.Device{}, err
	}
	var err error
	if d.Addresses, err = decodeAddresses(addrs); err != nil {
		return regcenter.Device{}, fmt.Errorf("device %s: %w", d.ESN, err)
	}
	d.ClaimedAt = claimedAt.UTC()
	if lastAt != nil {
		d.LastBootstrapAt = lastAt.UTC()
	}
	d.LastMode = regcenter.Mode(mode)
	return d, nil
}
