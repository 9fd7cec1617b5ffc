package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"github.com/regcenter/regcenter/migration"
)

// errIncompatible marks a schema this program cannot use as it is, which
// waiting will not change: the operator must act.
var errIncompatible = errors.New("incompatible schema")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate applies the migrations the schema has not seen, each in its own
// transaction, on a connection of its own that holds a session advisory
// lock meanwhile: replicas starting together take turns, and the later ones
// find nothing left to do. The lock is a session's, so it goes with the
// connection if this process dies halfway; a migration that did not commit
// left nothing behind.
func migrate(ctx context.Context, cfg *pgx.ConnConfig) error {
	ms, err := migration.Read(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	cfg = cfg.Copy()
	// Building an index over millions of rows may take minutes: the
	// per-statement bound of the service must not cut a migration short.
	// Open's context bounds it instead.
	cfg.RuntimeParams["statement_timeout"] = "0"
	cfg.RuntimeParams["lock_timeout"] = "0"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var (
		schema     *string
		searchPath string
	)
	if err := conn.QueryRow(ctx, "SELECT current_schema(), current_setting('search_path')").Scan(&schema, &searchPath); err != nil {
		return err
	}
	if schema == nil {
		return fmt.Errorf("%w: no schema of the search path (%s) exists; create it first", errIncompatible, searchPath)
	}
	// Advisory locks are per database; keyed by schema, the migrations of
	// two centers sharing a database in separate schemas do not wait for
	// each other.
	key := lockKey(*schema)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("migration lock of schema %s: %w", *schema, err)
	}
	if err := applyMigrations(ctx, conn, ms); err != nil {
		return fmt.Errorf("schema %s: %w", *schema, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		return fmt.Errorf("migration lock of schema %s: %w", *schema, err)
	}
	return nil
}

func applyMigrations(ctx context.Context, conn *pgx.Conn, ms []migration.Migration) error {
	// Safe under the lock: two concurrent CREATE TABLE IF NOT EXISTS of the
	// same table can fail on the catalog's unique index.
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER     NOT NULL PRIMARY KEY,
		name       TEXT        NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return err
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return err
	}
	if current > len(ms) {
		// An older program could break invariants a newer schema relies on.
		return fmt.Errorf("%w: schema version %d is newer than this program's %d; run a newer regcenter", errIncompatible, current, len(ms))
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx sends it as a simple query, which may hold
			// several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}

// lockKey is the advisory lock key of the migrations of schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("regcenter migrations\x00" + schema))
	return int64(h.Sum64())
}
