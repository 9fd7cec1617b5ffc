package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/regcenter/regcenter"
)

// PutPlatform creates or replaces the record of p.ID, durably.
func (db *DB) PutPlatform(ctx context.Context, p regcenter.Platform) error {
	addrs, err := json.Marshal(nonNil(p.Addresses))
	if err != nil {
		return fmt.Errorf("postgres: put platform %s: %w", p.ID, err)
	}
	qctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	_, err = db.pool.Exec(qctx, `INSERT INTO platforms (id, addresses, trust_anchor, updated_at)
		VALUES ($1, $2::TEXT::JSONB, $3, $4)
		ON CONFLICT (id) DO UPDATE SET
			addresses = excluded.addresses,
			trust_anchor = excluded.trust_anchor,
			updated_at = excluded.updated_at`,
		p.ID, string(addrs), p.TrustAnchor, p.UpdatedAt)
	if err != nil {
		return storeErr(ctx, "put platform "+p.ID, err)
	}
	return nil
}

// Platform returns the record of id, or an error wrapping
// regcenter.ErrNotFound.
func (db *DB) Platform(ctx context.Context, id string) (regcenter.Platform, error) {
	qctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var (
		p         = regcenter.Platform{ID: id}
		addrs     []byte
		updatedAt time.Time
	)
	err := db.pool.QueryRow(qctx, "SELECT addresses, trust_anchor, updated_at FROM platforms WHERE id = $1", id).
		Scan(&addrs, &p.TrustAnchor, &updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return regcenter.Platform{}, fmt.Errorf("platform %s: %w", id, regcenter.ErrNotFound)
	}
	if err != nil {
		return regcenter.Platform{}, storeErr(ctx, "platform "+id, err)
	}
	if p.Addresses, err = decodeAddresses(addrs); err != nil {
		return regcenter.Platform{}, fmt.Errorf("postgres: platform %s: %w", id, err)
	}
	p.UpdatedAt = updatedAt.UTC()
	return p, nil
}

// The address helpers below have twins in the sqlite package. They are
// three small functions about one adapter's column format, not domain
// logic, so each adapter keeps its own.

// nonNil makes an empty list encode as [] rather than null.
func nonNil(a []regcenter.Address) []regcenter.Address {
	if a == nil {
		return []regcenter.Address{}
	}
	return a
}

// deviceAddresses is the column value of a device's override: NULL when
// there is none, so that "no override" has one representation.
func deviceAddresses(a []regcenter.Address) (*string, error) {
	if len(a) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// decodeAddresses reads a JSON address list; NULL and an empty array both
// give nil.
func decodeAddresses(b []byte) ([]regcenter.Address, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var a []regcenter.Address
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("stored addresses: %w", err)
	}
	if len(a) == 0 {
		return nil, nil
	}
	return a, nil
}
