package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmptest"
	cmpsqlite "github.com/regcenter/regcenter/cmp/sqlite"
	_ "modernc.org/sqlite"
)

func TestStore(t *testing.T) {
	cmptest.Run(t, func(t *testing.T) func() cmp.Store {
		// A '?' and a space in the path: the file: URI must keep them.
		path := filepath.Join(t.TempDir(), "cmp data?x", "platform.db")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		return func() cmp.Store {
			db, err := cmpsqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			return db
		}
	})
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o600)
	for _, path := range []string{"", ":memory:", "file:x.db", notDB} {
		if db, err := cmpsqlite.Open(context.Background(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// TestOpenRefusesNewerSchema: an older program must not write to a schema
// whose invariants it does not know.
func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "platform.db")
	db, err := cmpsqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = cmpsqlite.Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Errorf("Open of a newer schema: %v", err)
	}
}
