package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/sqlite"
	"github.com/regcenter/regcenter/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) regcenter.Store {
		return open(t, filepath.Join(t.TempDir(), "regcenter.db"))
	})
}

func open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return db
}

// TestReopen closes the database and opens the file again, as a restart
// does: everything a method reported as done is there.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "regcenter.db")
	now := time.UnixMicro(1741964966535897).UTC()

	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	p := regcenter.Platform{ID: "cmp-a", Addresses: []regcenter.Address{{Host: "cmp-a.example.net", Port: 10020}}, TrustAnchor: "anchor", UpdatedAt: now}
	if err := db.PutPlatform(ctx, p); err != nil {
		t.Fatalf("PutPlatform = %v", err)
	}
	claims := []regcenter.DeviceClaim{
		{ESN: "KEEP1", DeviceType: "T1", Addresses: []regcenter.Address{{Host: "edge.example.net", Port: 1}}},
		{ESN: "KEEP2", DeviceType: "T2"},
		{ESN: "GONE", DeviceType: "T3"},
	}
	if _, err := db.ClaimDevices(ctx, "cmp-a", claims, now); err != nil {
		t.Fatalf("ClaimDevices = %v", err)
	}
	if err := db.ReleaseDevice(ctx, "cmp-a", "GONE"); err != nil {
		t.Fatalf("ReleaseDevice = %v", err)
	}
	rec := regcenter.BootstrapRecord{ESN: "KEEP1", PlatformID: "cmp-a", At: now.Add(time.Minute), Count: 7, Mode: regcenter.ModeCloud, SoftwareVersion: "V1"}
	if err := db.RecordBootstraps(ctx, []regcenter.BootstrapRecord{rec}); err != nil {
		t.Fatalf("RecordBootstraps = %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	db = open(t, path)
	gotP, err := db.Platform(ctx, "cmp-a")
	if err != nil || gotP.TrustAnchor != "anchor" || !gotP.UpdatedAt.Equal(now) || len(gotP.Addresses) != 1 || gotP.Addresses[0] != p.Addresses[0] {
		t.Errorf("Platform after reopen = %+v, %v; want %+v", gotP, err, p)
	}
	devs, err := db.Devices(ctx, "cmp-a", "", 10)
	if err != nil {
		t.Fatalf("Devices after reopen = %v", err)
	}
	if len(devs) != 2 || devs[0].ESN != "KEEP1" || devs[1].ESN != "KEEP2" {
		t.Fatalf("Devices after reopen = %+v, want KEEP1 and KEEP2", devs)
	}
	d := devs[0]
	if d.DeviceType != "T1" || len(d.Addresses) != 1 || d.Addresses[0] != claims[0].Addresses[0] || !d.ClaimedAt.Equal(now) ||
		d.BootstrapCount != 7 || !d.LastBootstrapAt.Equal(rec.At) || d.LastMode != regcenter.ModeCloud || d.LastSoftwareVersion != "V1" {
		t.Errorf("KEEP1 after reopen = %+v", d)
	}
}

// TestOpenTwice opens one file from two handles, as a second process
// would: the migrations run once and the second Open finds nothing to do.
func TestOpenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regcenter.db")
	first := open(t, path)
	if _, err := first.ClaimDevices(t.Context(), "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, time.Now().UTC()); err != nil {
		t.Fatalf("ClaimDevices = %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := open(t, path)
	if _, err := second.Device(t.Context(), "cmp-a", "E1"); err != nil {
		t.Fatalf("Device after reopening = %v", err)
	}
	if got := migrationsApplied(t, path); got != migrationFiles(t) {
		t.Errorf("schema_migrations has %d rows, want one per migration file (%d)", got, migrationFiles(t))
	}
}

// TestOneOwner: a second store on an open file is refused, since the first
// answers switches from a cache that only its own writes keep exact.
func TestOneOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regcenter.db")
	first := open(t, path)
	_, err := sqlite.Open(t.Context(), path)
	if err == nil || !strings.Contains(err.Error(), "one owner") {
		t.Fatalf("second Open of an open store = %v, want a refusal that says why", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open after the owner closed = %v", err)
	}
	again.Close()
}

func migrationsApplied(t *testing.T, path string) int {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n int
	if err := raw.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatalf("counting migrations: %v", err)
	}
	return n
}

func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}

// TestMigrationsAreAdditive guards the rule that a migration never
// destroys data: an upgrade must be safe to run against production.
func TestMigrationsAreAdditive(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("migrations", "*.sql"))
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		upper := strings.ToUpper(string(text))
		for _, word := range []string{"DROP ", "DELETE FROM", "TRUNCATE "} {
			if strings.Contains(upper, word) {
				t.Errorf("%s contains %q: migrations only ever add (see doc.go)", f, strings.TrimSpace(word))
			}
		}
	}
}

func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	content := bytes.Repeat([]byte("this is not an SQLite database\n"), 200)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(t.Context(), path)
	if err == nil {
		db.Close()
		t.Fatal("Open of a text file succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "not an SQLite database") {
		t.Errorf("Open error = %q, want it to name the file and say it is not an SQLite database", msg)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(after, content) {
		t.Errorf("Open changed the file it refused (err %v)", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if db, err := sqlite.Open(t.Context(), path); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "regcenter.db")
	if db, err := sqlite.Open(t.Context(), missingDir); err == nil {
		db.Close()
		t.Errorf("Open(%q) succeeded in a directory that does not exist", missingDir)
	}
}

// TestPathWithURICharacters: the DSN is a URI, and a path must not be
// taken for one.
func TestPathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "regcenter.db")
	open(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at %s: %v", path, err)
	}
}

func TestRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("data", 0o700); err != nil {
		t.Fatal(err)
	}
	open(t, filepath.Join("data", "regcenter.db"))
	if _, err := os.Stat(filepath.Join(dir, "data", "regcenter.db")); err != nil {
		t.Errorf("database not created relative to the working directory: %v", err)
	}
}

func TestJournalModeWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regcenter.db")
	open(t, path)
	raw, err := sql.Open("sqlite", "file:"+path+"?_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestClosedStore(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "regcenter.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	ctx := t.Context()
	_, _, bootErr := db.BootstrapTarget(ctx, "E1")
	_, claimErr := db.ClaimDevices(ctx, "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, time.Now().UTC())
	for name, err := range map[string]error{
		"Ping":            db.Ping(ctx),
		"BootstrapTarget": bootErr,
		"ClaimDevices":    claimErr,
		"ReleaseDevice":   db.ReleaseDevice(ctx, "cmp-a", "E1"),
	} {
		if !errors.Is(err, regcenter.ErrUnavailable) {
			t.Errorf("%s after Close = %v, want an error wrapping regcenter.ErrUnavailable", name, err)
		}
	}
}

func TestContextErrors(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "regcenter.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, bootErr := db.BootstrapTarget(ctx, "E1")
	_, claimErr := db.ClaimDevices(ctx, "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, time.Now().UTC())
	for name, err := range map[string]error{
		"Ping":             db.Ping(ctx),
		"BootstrapTarget":  bootErr,
		"ClaimDevices":     claimErr,
		"RecordBootstraps": db.RecordBootstraps(ctx, []regcenter.BootstrapRecord{{ESN: "E1", PlatformID: "cmp-a", Count: 1}}),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", name, err)
		}
		if errors.Is(err, regcenter.ErrUnavailable) {
			t.Errorf("%s with a cancelled context = %v: the caller gave up, the store is not unavailable", name, err)
		}
	}
}

// TestReadsDoNotWaitForWrites holds the write lock from another connection,
// as a long upload would, and asks the hot-path question meanwhile. BEGIN
// EXCLUSIVE would lock readers out of a rollback-journal database; in WAL
// mode it does not.
func TestReadsDoNotWaitForWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regcenter.db")
	db := open(t, path)
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := db.ClaimDevices(t.Context(), "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, now); err != nil {
		t.Fatalf("ClaimDevices = %v", err)
	}

	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "UPDATE devices SET device_type = 'uncommitted'"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	dev, _, err := db.BootstrapTarget(ctx, "E1")
	if err != nil {
		t.Fatalf("BootstrapTarget while another connection writes = %v", err)
	}
	if dev.DeviceType != "T" {
		t.Errorf("BootstrapTarget saw device type %q, want the committed %q", dev.DeviceType, "T")
	}
}
