package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/regcenter/regcenter"
)

// PutPlatform creates or replaces the record of p.ID, durably.
func (db *DB) PutPlatform(ctx context.Context, p regcenter.Platform) error {
	addrs, err := json.Marshal(nonNil(p.Addresses))
	if err != nil {
		return fmt.Errorf("sqlite: put platform %s: %w", p.ID, err)
	}
	_, err = db.w.ExecContext(ctx, `INSERT INTO platforms (id, addresses, trust_anchor, updated_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			addresses = excluded.addresses,
			trust_anchor = excluded.trust_anchor,
			updated_at = excluded.updated_at`,
		p.ID, string(addrs), p.TrustAnchor, p.UpdatedAt.UnixMicro())
	db.cache.forgetAll()
	if err != nil {
		return storeErr(ctx, "put platform "+p.ID, err)
	}
	return nil
}

// Platform returns the record of id, or an error wrapping
// regcenter.ErrNotFound.
func (db *DB) Platform(ctx context.Context, id string) (regcenter.Platform, error) {
	var (
		p         = regcenter.Platform{ID: id}
		addrs     string
		updatedAt int64
	)
	err := db.r.QueryRowContext(ctx, "SELECT addresses, trust_anchor, updated_at FROM platforms WHERE id = ?", id).
		Scan(&addrs, &p.TrustAnchor, &updatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return regcenter.Platform{}, fmt.Errorf("platform %s: %w", id, regcenter.ErrNotFound)
	}
	if err != nil {
		return regcenter.Platform{}, storeErr(ctx, "platform "+id, err)
	}
	if p.Addresses, err = decodeAddresses(addrs); err != nil {
		return regcenter.Platform{}, storeErr(ctx, "platform "+id, err)
	}
	p.UpdatedAt = fromMicros(updatedAt)
	return p, nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(a []regcenter.Address) []regcenter.Address {
	if a == nil {
		return []regcenter.Address{}
	}
	return a
}

// deviceAddresses is the column value of a device's override: NULL when
// there is none, so that "no override" has one representation.
func deviceAddresses(a []regcenter.Address) (any, error) {
	if len(a) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// decodeAddresses reads a JSON address list; "" (a NULL column) and an
// empty array both give nil.
func decodeAddresses(s string) ([]regcenter.Address, error) {
	if s == "" {
		return nil, nil
	}
	var a []regcenter.Address
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("stored addresses: %w", err)
	}
	if len(a) == 0 {
		return nil, nil
	}
	return a, nil
}

// fromMicros turns a stored time back into the UTC time it was given as.
func fromMicros(us int64) time.Time {
	return time.UnixMicro(us).UTC()
}
