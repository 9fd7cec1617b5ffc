package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/migration"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

var _ regcenter.Store = (*DB)(nil)

// busyTimeout is how long a connection waits for another process's lock
// (a backup tool, a second center by mistake) before failing.
const busyTimeout = 5 * time.Second

// DB is a regcenter.Store in one SQLite file. It is safe for concurrent use.
type DB struct {
	path string
	// w is the one writer connection. Keeping writes on one connection
	// means they queue in database/sql rather than spin on SQLITE_BUSY.
	w *sql.DB
	// r is the query-only read pool; WAL lets its readers run while w
	// writes.
	r *sql.DB
	// bootstrap is prepared once because it is the path every switch takes.
	bootstrap *sql.Stmt
	cache     *targetCache
	// lock is held while the DB is open: the cache is exact only while
	// this DB is the file's one owner.
	lock *os.File
}

// Open opens, creating it if needed, the database file at path, and brings
// its schema up to date. path is a file name, not a URI; ":memory:" is not
// supported, since the writer and the read pool must share one file.
// Open refuses a file that is not an SQLite database and a database whose
// schema is newer than this program knows.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: need the path of a database file", path)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := open(ctx, path)
	if err != nil {
		lock.Close()
		return nil, err
	}
	db.lock = lock
	return db, nil
}

func open(ctx context.Context, path string) (*DB, error) {
	db := &DB{path: path, cache: newTargetCache(defaultCacheSize)}

	writerDSN, err := dsn(path, url.Values{
		"_busy_timeout": {strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		"_foreign_keys": {"on"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_txlock":       {"immediate"},
	})
	if err != nil {
		return nil, db.openErr(err)
	}
	readerDSN, err := dsn(path, url.Values{
		"_busy_timeout": {strconv.FormatInt(busyTimeout.Milliseconds(), 10)},
		"_query_only":   {"on"},
	})
	if err != nil {
		return nil, db.openErr(err)
	}
	w, err := sql.Open("sqlite", writerDSN)
	if err != nil {
		return nil, db.openErr(err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db.w = w

	if err := db.checkJournalMode(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, db.openErr(err)
	}

	// The read pool is opened only now, so that its connections find the
	// file already in WAL mode with its schema in place.
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	r, err := sql.Open("sqlite", readerDSN)
	if err != nil {
		w.Close()
		return nil, db.openErr(err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	db.r = r

	if db.bootstrap, err = r.PrepareContext(ctx, bootstrapQuery); err != nil {
		db.Close()
		return nil, db.openErr(err)
	}
	return db, nil
}

// dsn builds a file: URI so that any character in path survives: in a plain
// file name the driver would cut the path at its first '?'.
// The path is made absolute first: url.URL writes a relative path after
// "file://", where SQLite would read its first element as an authority.
func dsn(path string, params url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: params.Encode()}
	return u.String(), nil
}

// checkJournalMode connects the writer, which applies the DSN's pragmas,
// and makes sure WAL took: on a file system without shared memory SQLite
// silently keeps the rollback journal, and the read pool would then block
// behind every write.
func (db *DB) checkJournalMode(ctx context.Context) error {
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return db.openErr(err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: open %s: journal_mode is %q, want wal (is the file on a network file system?)", db.path, mode)
	}
	return nil
}

func (db *DB) openErr(err error) error {
	var se *sqlite3.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3lib.SQLITE_NOTADB {
		return fmt.Errorf("sqlite: open %s: not an SQLite database: %w", db.path, err)
	}
	if isContextErr(err) {
		return fmt.Errorf("sqlite: open %s: %w", db.path, err)
	}
	return fmt.Errorf("sqlite: open %s: %w: %w", db.path, regcenter.ErrUnavailable, err)
}

// Close closes the database. Methods called after Close return an error
// wrapping regcenter.ErrUnavailable.
func (db *DB) Close() error {
	var errs []error
	if db.bootstrap != nil {
		errs = append(errs, db.bootstrap.Close())
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	if db.lock != nil {
		// Closing the file releases the lock; a second Close must not fail
		// on it.
		if err := db.lock.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", db.path, err)
	}
	return nil
}

// Ping reads the database through the read pool, the one the bootstrap
// path depends on.
func (db *DB) Ping(ctx context.Context) error {
	var v int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&v); err != nil {
		return storeErr(ctx, "ping", err)
	}
	return nil
}

// storeErr wraps a failure of the database so that callers can tell a
// context that ended (context.Canceled, context.DeadlineExceeded) from a
// store that does not answer (regcenter.ErrUnavailable).
func storeErr(ctx context.Context, op string, err error) error {
	if isContextErr(err) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	// The driver reports an interrupted statement as SQLITE_INTERRUPT,
	// not as the context's error.
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("sqlite: %s: %w (%v)", op, cerr, err)
	}
	return fmt.Errorf("sqlite: %s: %w: %w", op, regcenter.ErrUnavailable, err)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate applies, in one transaction, the migrations the file has not
// seen. Two processes opening the same new file at once are serialised by
// BEGIN IMMEDIATE, and the second finds nothing left to do.
func migrate(ctx context.Context, w *sql.DB) error {
	ms, err := migration.Read(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return err
	}
	if current > len(ms) {
		// An older program could break invariants a newer schema relies on.
		return fmt.Errorf("schema version %d is newer than this program's %d; run a newer regcenter", current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return tx.Commit()
}
