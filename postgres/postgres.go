package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
)

var _ regcenter.Store = (*DB)(nil)

const (
	// connectTimeout bounds a connection attempt, TLS and authentication
	// included, when the DSN sets no connect_timeout: without it a
	// black-holed database host holds a request until the kernel gives up
	// on the SYN, minutes later.
	connectTimeout = 5 * time.Second

	// readTimeout and writeTimeout bound one call from this side, so that a
	// database that stops answering (a cut network path sends no RST) turns
	// into ErrUnavailable in bounded time even when the caller's context
	// has no deadline. An upload of 10,000 devices takes about 0.1 s and a
	// flush of 100,000 bootstrap records about 2 s on a 2-core machine.
	readTimeout  = 5 * time.Second
	writeTimeout = 30 * time.Second

	// statementTimeout is the server's own bound, for a statement whose
	// client vanished without closing its connection.
	statementTimeout = "30s"
	// idleInTxTimeout frees the locks of a replica that stalls inside a
	// transaction: above all the event counter's, which every replica's
	// flush needs.
	idleInTxTimeout = "60s"

	// maxTxAttempts bounds how often a transaction that lost a deadlock or
	// a serialization conflict is run again before the error is returned.
	maxTxAttempts = 5
)

// DB is a regcenter.Store in a PostgreSQL database, shared by any number of
// center replicas. It is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
}

// Open connects to the database that dsn names, brings its schema up to
// date and returns the store. dsn is a libpq connection string, either
// "postgres://user@host:5432/db?sslmode=verify-full" or "host=... user=...";
// what it leaves out comes from the PG* environment variables and
// ~/.pgpass, as with psql. The tables are created in the first schema of
// the search path, which the DSN may set (options=-csearch_path=regcenter).
//
// pool_max_conns and the other pgxpool settings in the DSN are honoured;
// otherwise the pool holds at most max(8, 4×GOMAXPROCS) connections.
//
// Open returns an error wrapping regcenter.ErrUnavailable when the database
// cannot be reached, and refuses a schema newer than this program knows.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's message shows the DSN with its password masked.
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	configure(cfg, dsn)
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)

	if err := migrate(ctx, cfg.ConnConfig); err != nil {
		return nil, storeErr(ctx, "open "+where, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, storeErr(ctx, "open "+where, err)
	}
	return &DB{pool: pool}, nil
}

// configure fills in what the DSN left to us.
func configure(cfg *pgxpool.Config, dsn string) {
	// pgxpool's default (max(4, NumCPU)) leaves a 2-core replica 4
	// connections for its bootstrap lookups, an upload and a flush at once.
	// Eight per replica keeps ten replicas under PostgreSQL's default
	// max_connections of 100.
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	// A warm connection spares the first lookup after a quiet spell the
	// cost of a connection and its TLS handshake.
	if !strings.Contains(dsn, "pool_min_conns") {
		cfg.MinConns = 2
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout
	}
	for name, value := range map[string]string{
		"application_name":                    "regcenter",
		"statement_timeout":                   statementTimeout,
		"idle_in_transaction_session_timeout": idleInTxTimeout,
	} {
		// What the operator set, as a parameter or in options=-c..., wins.
		if _, ok := cc.RuntimeParams[name]; ok || strings.Contains(cc.RuntimeParams["options"], name) {
			continue
		}
		cc.RuntimeParams[name] = value
	}
}

// Close closes the pool's connections. Methods called after Close return an
// error wrapping regcenter.ErrUnavailable.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping runs a trivial query through the pool, which is what every other
// method needs to work.
func (db *DB) Ping(ctx context.Context) error {
	qctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if _, err := db.pool.Exec(qctx, "SELECT 1"); err != nil {
		return storeErr(ctx, "ping", err)
	}
	return nil
}

// inTx runs fn in a transaction, and runs it again, a bounded number of
// times, when it lost a race that a fresh start resolves: PostgreSQL
// aborted it to break a deadlock or a serialization conflict (CockroachDB
// reports its own contention that way too), or another upload claimed an
// ESN first. Nothing was written, so fn starts from scratch.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	retry := backoff.Policy{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	var err error
	for attempt := range maxTxAttempts {
		if attempt > 0 {
			if err := backoff.Sleep(ctx, retry.Delay(attempt-1, 0)); err != nil {
				return err
			}
		}
		err = pgx.BeginFunc(ctx, db.pool, fn)
		if !retryable(err) {
			return err
		}
	}
	return err
}

func retryable(err error) bool {
	if errors.Is(err, errLostRace) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// storeErr wraps a failure so that callers can tell a context that ended
// (context.Canceled, context.DeadlineExceeded) from a store that does not
// answer (regcenter.ErrUnavailable). ctx is the caller's context, not the
// bounded one the query ran with.
func storeErr(ctx context.Context, op string, err error) error {
	switch {
	case ctx.Err() != nil:
		if isContextErr(err) {
			return fmt.Errorf("postgres: %s: %w", op, err)
		}
		return fmt.Errorf("postgres: %s: %w (%v)", op, ctx.Err(), err)
	case isContextErr(err):
		// The caller's context is live, so the deadline that passed is
		// this store's own bound: the database did not answer in time.
		// The context error is not wrapped, since the caller's did not end.
		return fmt.Errorf("postgres: %s: %w: no answer in time (%v)", op, regcenter.ErrUnavailable, err)
	case unavailable(err):
		return fmt.Errorf("postgres: %s: %w: %w", op, regcenter.ErrUnavailable, err)
	default:
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
}

// unavailable tells a database that cannot serve now, which a client
// should retry later, from a statement the database refused, which is a
// bug and retrying would not cure.
func unavailable(err error) bool {
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true // including a refused login: the operator must act
	}
	// Data that does not scan or decode is a bug or a corrupt row, and a
	// schema this program cannot use needs the operator: waiting will not
	// cure either.
	if errors.Is(err, errIncompatible) {
		return false
	}
	var (
		scanErr   pgx.ScanArgError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	if errors.As(err, &scanErr) || errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		// Not sent by the server: the network, TLS, a connection or the
		// pool that was closed.
		return true
	}
	if len(pgErr.Code) != 5 {
		return false
	}
	switch pgErr.Code[:2] {
	case "08", // connection exception
		"40", // transaction rollback: contention that outlasted our retries
		"53", // insufficient resources: too many connections, disk full
		"57", // operator intervention: shutdown, statement_timeout
		"58": // system error: I/O
		return true
	}
	switch pgErr.Code {
	case "25006", // read_only_sql_transaction: a standby, after a failover
		"55P03": // lock_not_available: lock_timeout
		return true
	}
	return false
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
