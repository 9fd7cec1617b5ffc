// Package pgtest gives tests a PostgreSQL schema of their own. Tests that
// need PostgreSQL read REGCENTER_TEST_POSTGRES (a libpq DSN or URL, e.g.
// postgres://root@127.0.0.1:5432/test?sslmode=disable) and skip with a
// one-line reason when it is unset, so that `go test ./...` passes on a
// laptop; CI always sets it. It is imported only by tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable that holds the test database's DSN.
const EnvDSN = "REGCENTER_TEST_POSTGRES"

// DSN is the database the tests may create schemas in, or skips t.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Skip(EnvDSN + " is not set; PostgreSQL tests skipped")
	}
	return dsn
}

// FreshSchema creates a schema with a random name, drops it with all it
// holds when t ends, and returns a DSN whose search path is that schema:
// tests running at once, in one process or several, never see each
// other's data.
func FreshSchema(t testing.TB) (dsn, schema string) {
	t.Helper()
	base := DSN(t)
	b := make([]byte, 8)
	rand.Read(b)
	schema = "regcenter_test_" + hex.EncodeToString(b)
	Exec(t, base, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
	t.Cleanup(func() {
		Exec(t, base, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	return WithParam(t, base, "options", "-csearch_path="+schema), schema
}

// Exec runs sql on a connection of its own, outside any store.
func Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	// Not t.Context(): cleanups run after it is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", dsn, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// QueryInt runs a query of one integer on a connection of its own.
func QueryInt(t testing.TB, dsn, sql string, args ...any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to %s: %v", dsn, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// WithParam adds a connection parameter to a URL or keyword/value DSN.
func WithParam(t testing.TB, dsn, name, value string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("%s: %v", EnvDSN, err)
		}
		q := u.Query()
		q.Set(name, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + name + "='" + value + "'"
}
