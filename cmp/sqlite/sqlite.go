package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	_ "modernc.org/sqlite" // the "sqlite" driver
)

var _ cmp.Store = (*DB)(nil)

// DB is a cmp.Store in one SQLite file. It is safe for concurrent use.
type DB struct {
	path string
	w    *sql.DB // the one writer connection: writes queue here, never spin on SQLITE_BUSY
	r    *sql.DB // query-only readers, which WAL lets run beside the writer
}

// Open opens, creating it if needed, the database file at path and
// migrates its schema. path is a file name; ":memory:" is refused, since
// the writer and the readers must share one file.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("cmp sqlite: open %q: need the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cmp sqlite: open %s: %w", path, err)
	}
	// A file: URI keeps every character of the path; a plain name would be
	// cut at its first '?'. Absolute, so that no path element is read as
	// the URI's authority.
	uri := func(pragmas ...string) string {
		q := url.Values{"_busy_timeout": {"5000"}}
		for i := 0; i+1 < len(pragmas); i += 2 {
			q.Set(pragmas[i], pragmas[i+1])
		}
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String()
	}
	db := &DB{path: path}
	if db.w, err = sql.Open("sqlite", uri("_journal_mode", "WAL", "_synchronous", "FULL", "_txlock", "immediate")); err != nil {
		return nil, db.fail(err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, db.fail(err)
	}
	if !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("cmp sqlite: open %s: journal_mode is %q, want wal (is the file on a network file system?)", path, mode)
	}
	if err := migrate(ctx, db.w); err != nil {
		db.Close()
		return nil, db.fail(err)
	}
	// Opened after the migration, so that readers find WAL and the schema.
	if db.r, err = sql.Open("sqlite", uri("_query_only", "on")); err != nil {
		db.Close()
		return nil, db.fail(err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.r.SetMaxOpenConns(n)
	db.r.SetMaxIdleConns(n)
	return db, nil
}

func (db *DB) fail(err error) error {
	return fmt.Errorf("cmp sqlite: open %s: %w", db.path, err)
}

// Close closes the database.
func (db *DB) Close() error {
	var errs []error
	for _, c := range []*sql.DB{db.r, db.w} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// storeErr tells a context that ended from a store that does not answer
// (regcenter.ErrUnavailable), as the center's store does.
func storeErr(ctx context.Context, op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cmp sqlite: %s: %w", op, err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("cmp sqlite: %s: %w (%v)", op, cerr, err)
	}
	return fmt.Errorf("cmp sqlite: %s: %w: %w", op, regcenter.ErrUnavailable, err)
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate applies the embedded migrations the file has not seen, in one
// transaction. The schema's version is SQLite's user_version: migration
// NNNN_name.sql brings it to NNNN, and a file newer than this program is
// refused.
func migrate(ctx context.Context, w *sql.DB) error {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current > len(names) {
		return fmt.Errorf("schema version %d is newer than this program's %d", current, len(names))
	}
	for i, name := range names { // fs.Glob sorts: 0001 before 0002
		v, _, _ := strings.Cut(filepath.Base(name), "_")
		if n, err := strconv.Atoi(v); err != nil || n != i+1 {
			return fmt.Errorf("migration %s: want version %d", name, i+1)
		}
		if i < current {
			continue
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(text)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(i+1)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}
