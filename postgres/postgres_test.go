package postgres_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/postgres"
	"github.com/regcenter/regcenter/postgres/pgtest"
	"github.com/regcenter/regcenter/storetest"
)

func open(t testing.TB, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) regcenter.Store {
		dsn, _ := pgtest.FreshSchema(t)
		return open(t, dsn)
	})
}

// TestOpenConcurrently starts two replicas on one new schema at the same
// moment: both open, and the migrations were applied once.
func TestOpenConcurrently(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	var (
		wg    sync.WaitGroup
		dbs   [2]*postgres.DB
		errs  [2]error
		start = make(chan struct{})
	)
	for i := range dbs {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = postgres.Open(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, db := range dbs {
		if errs[i] != nil {
			t.Fatalf("Open %d = %v", i, errs[i])
		}
		t.Cleanup(func() { db.Close() })
	}
	if got, want := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM schema_migrations"), migrationFiles(t); got != want {
		t.Errorf("schema_migrations has %d rows, want one per migration file (%d)", got, want)
	}

	// Both see one database: a claim through one is answered by the other.
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := dbs[0].ClaimDevices(t.Context(), "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, now); err != nil {
		t.Fatalf("ClaimDevices = %v", err)
	}
	if d, _, err := dbs[1].BootstrapTarget(t.Context(), "E1"); err != nil || d.PlatformID != "cmp-a" {
		t.Fatalf("BootstrapTarget through the other replica = %+v, %v", d, err)
	}

	// A third start, with the schema up to date, changes nothing.
	open(t, dsn)
	if got, want := pgtest.QueryInt(t, dsn, "SELECT count(*) FROM schema_migrations"), migrationFiles(t); got != want {
		t.Errorf("after a third Open, schema_migrations has %d rows, want %d", got, want)
	}
}

func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	open(t, dsn)
	pgtest.Exec(t, dsn, "INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')")
	db, err := postgres.Open(t.Context(), dsn)
	if err == nil {
		db.Close()
		t.Fatal("Open of a schema newer than the program succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open = %v, want it to say the schema is newer", err)
	}
	if errors.Is(err, regcenter.ErrUnavailable) {
		t.Errorf("Open = %v: the operator must act, retrying will not help; want no ErrUnavailable", err)
	}
}

func TestOpenWithoutSchema(t *testing.T) {
	base := pgtest.DSN(t)
	dsn := pgtest.WithParam(t, base, "options", "-csearch_path=regcenter_test_does_not_exist")
	db, err := postgres.Open(t.Context(), dsn)
	if err == nil {
		db.Close()
		t.Fatal("Open with a search path of no existing schema succeeded")
	}
	if !strings.Contains(err.Error(), "create it first") {
		t.Errorf("Open = %v, want it to say the schema must be created", err)
	}
	if errors.Is(err, regcenter.ErrUnavailable) {
		t.Errorf("Open = %v: the operator must act, retrying will not help; want no ErrUnavailable", err)
	}
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
		for _, word := range []string{"DROP ", "DELETE FROM", "TRUNCATE ", "ALTER COLUMN"} {
			if strings.Contains(upper, word) {
				t.Errorf("%s contains %q: migrations only ever add (see doc.go)", f, strings.TrimSpace(word))
			}
		}
	}
}

// TestBytewiseColumns: the test database may well have a bytewise default
// collation (C.UTF-8), under which storetest's ordering cases pass without
// COLLATE "C"; a production database created with en_US.UTF-8 would not.
func TestBytewiseColumns(t *testing.T) {
	dsn, schema := pgtest.FreshSchema(t)
	open(t, dsn)
	n := pgtest.QueryInt(t, dsn, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = '`+schema+`' AND column_name IN ('esn', 'platform_id', 'id')
			AND table_name IN ('devices', 'events', 'platforms')
			AND collation_name IS DISTINCT FROM 'C'`)
	if n != 0 {
		t.Errorf("%d ESN or platform ID columns are not COLLATE \"C\"", n)
	}
}

// TestOpenUnreachable needs no PostgreSQL: a database that refuses
// connections, and one that accepts TCP but never answers (as a
// black-holed path would), both fail Open with ErrUnavailable, in bounded
// time even without connect_timeout in the DSN.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups, not defers: the subtests run in parallel, after this
	// function has returned.
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()

	for _, tc := range []struct {
		name, addr string
	}{
		{"connection refused", refusedAddr},
		{"no answer", silent.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			db, err := postgres.Open(t.Context(), "postgres://regcenter@"+tc.addr+"/regcenter?sslmode=disable")
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, regcenter.ErrUnavailable) {
				t.Errorf("Open = %v, want an error wrapping regcenter.ErrUnavailable", err)
			}
			t.Logf("Open = %v", err)
			if took := time.Since(begin); took > 10*time.Second {
				t.Errorf("Open took %v to fail", took)
			}
		})
	}
}

func TestOpenBadDSN(t *testing.T) {
	db, err := postgres.Open(t.Context(), "postgres://root@localhost:notaport/db")
	if err == nil {
		db.Close()
		t.Fatal("Open of a malformed DSN succeeded")
	}
	if errors.Is(err, regcenter.ErrUnavailable) {
		t.Errorf("Open of a malformed DSN = %v: a configuration error, not an unavailable store", err)
	}
}

func TestClosedStore(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	db, err := postgres.Open(t.Context(), dsn)
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
		"Ping":             db.Ping(ctx),
		"BootstrapTarget":  bootErr,
		"ClaimDevices":     claimErr,
		"ReleaseDevice":    db.ReleaseDevice(ctx, "cmp-a", "E1"),
		"RecordBootstraps": db.RecordBootstraps(ctx, []regcenter.BootstrapRecord{{ESN: "E1", PlatformID: "cmp-a", Count: 1}}),
	} {
		if !errors.Is(err, regcenter.ErrUnavailable) {
			t.Errorf("%s after Close = %v, want an error wrapping regcenter.ErrUnavailable", name, err)
		}
	}
}

func TestContextErrors(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	db := open(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, bootErr := db.BootstrapTarget(ctx, "E1")
	_, claimErr := db.ClaimDevices(ctx, "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, time.Now().UTC())
	_, eventsErr := db.Events(ctx, "cmp-a", 0, 10)
	for name, err := range map[string]error{
		"Ping":             db.Ping(ctx),
		"BootstrapTarget":  bootErr,
		"ClaimDevices":     claimErr,
		"RecordBootstraps": db.RecordBootstraps(ctx, []regcenter.BootstrapRecord{{ESN: "E1", PlatformID: "cmp-a", Count: 1}}),
		"Events":           eventsErr,
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", name, err)
		}
		if errors.Is(err, regcenter.ErrUnavailable) {
			t.Errorf("%s with a cancelled context = %v: the caller gave up, the store is not unavailable", name, err)
		}
	}
}

// TestConnectionsKilled ends every server process of the store, as a
// database restart or failover does: calls fail with ErrUnavailable, if at
// all, and the store serves again without being reopened.
func TestConnectionsKilled(t *testing.T) {
	dsn, schema := pgtest.FreshSchema(t)
	// The application name picks this store's connections out of the
	// tests running at the same time.
	dsn = pgtest.WithParam(t, dsn, "application_name", schema)
	db := open(t, dsn)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := db.ClaimDevices(ctx, "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, now); err != nil {
		t.Fatalf("ClaimDevices = %v", err)
	}
	if pgtest.QueryInt(t, pgtest.DSN(t), "SELECT count(*) FROM pg_stat_activity WHERE application_name = '"+schema+"'") == 0 {
		t.Fatal("the store holds no connection to kill")
	}
	pgtest.Exec(t, pgtest.DSN(t), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", schema)

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := db.BootstrapTarget(ctx, "E1")
		if err == nil {
			break
		}
		if !errors.Is(err, regcenter.ErrUnavailable) {
			t.Fatalf("BootstrapTarget after the connections were killed = %v, want nil or ErrUnavailable", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("BootstrapTarget still fails 10 s after the connections were killed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := db.ClaimDevices(ctx, "cmp-a", []regcenter.DeviceClaim{{ESN: "E2", DeviceType: "T"}}, now); err != nil {
		t.Fatalf("ClaimDevices after reconnecting = %v", err)
	}
}

// TestRecordBootstrapsSameDeviceTwice: a batch that names one device twice
// (the recorder merges per device, but the contract does not require it)
// applies both records and appends both events.
func TestRecordBootstrapsSameDeviceTwice(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	db := open(t, dsn)
	ctx := t.Context()
	t0 := time.UnixMicro(1741964966535897).UTC()
	if _, err := db.ClaimDevices(ctx, "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}, {ESN: "E2", DeviceType: "T"}}, t0); err != nil {
		t.Fatalf("ClaimDevices = %v", err)
	}
	err := db.RecordBootstraps(ctx, []regcenter.BootstrapRecord{
		{ESN: "E1", PlatformID: "cmp-a", At: t0.Add(2 * time.Second), Count: 2, Mode: regcenter.ModeCloud, SoftwareVersion: "V2"},
		{ESN: "E2", PlatformID: "cmp-a", At: t0.Add(time.Second), Count: 1, Mode: regcenter.ModeCloud, SoftwareVersion: "V1"},
		{ESN: "E1", PlatformID: "cmp-a", At: t0.Add(time.Second), Count: 3, Mode: regcenter.ModeTraditional, SoftwareVersion: "V1"},
	})
	if err != nil {
		t.Fatalf("RecordBootstraps = %v", err)
	}
	d, err := db.Device(ctx, "cmp-a", "E1")
	if err != nil {
		t.Fatalf("Device = %v", err)
	}
	if d.BootstrapCount != 5 || !d.LastBootstrapAt.Equal(t0.Add(2*time.Second)) || d.LastSoftwareVersion != "V2" || d.LastMode != regcenter.ModeCloud {
		t.Errorf("E1 = %+v, want count 5 and the newer record's last_*", d)
	}
	evs, err := db.Events(ctx, "cmp-a", 0, 10)
	if err != nil {
		t.Fatalf("Events = %v", err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.ESN+"/"+e.SoftwareVersion)
	}
	if want := "E1/V2 E2/V1 E1/V1"; strings.Join(got, " ") != want {
		t.Errorf("events = %q, want %q (one per record, in the batch's order)", got, want)
	}
}

// TestSilentDatabase puts a proxy between the store and PostgreSQL and
// stops it forwarding, as a cut network path does (no RST, no answer):
// calls whose context has no deadline fail with ErrUnavailable in bounded
// time, and once the path is back the store serves again without being
// reopened.
func TestSilentDatabase(t *testing.T) {
	dsn, _ := pgtest.FreshSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Skipf("REGCENTER_TEST_POSTGRES is not a URL (%v); the proxy needs host:port", err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	db := open(t, u.String())
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := db.ClaimDevices(t.Context(), "cmp-a", []regcenter.DeviceClaim{{ESN: "E1", DeviceType: "T"}}, now); err != nil {
		t.Fatalf("ClaimDevices = %v", err)
	}

	p.freeze()
	begin := time.Now()
	_, _, err = db.BootstrapTarget(context.Background(), "E1")
	if !errors.Is(err, regcenter.ErrUnavailable) {
		t.Errorf("BootstrapTarget with the path cut = %v, want an error wrapping ErrUnavailable", err)
	}
	if took := time.Since(begin); took > 15*time.Second {
		t.Errorf("BootstrapTarget took %v to fail", took)
	}
	t.Logf("BootstrapTarget with the path cut: %v after %v", err, time.Since(begin).Round(time.Millisecond))

	p.thaw()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, _, err := db.BootstrapTarget(t.Context(), "E1")
		if err == nil {
			if d.PlatformID != "cmp-a" {
				t.Errorf("BootstrapTarget after the path is back = %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("BootstrapTarget still fails 15 s after the path is back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// proxy forwards TCP connections to target and can hold back every byte
// in both directions while keeping the connections open.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	open   chan struct{} // closed while traffic flows
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, open: make(chan struct{})}
	close(p.open)
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, done)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open = make(chan struct{})
}

func (p *proxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.open)
}

func (p *proxy) gate() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *proxy) serve(client net.Conn, done chan struct{}) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	closeBoth := func() { client.Close(); server.Close() }
	pipe := func(dst, src net.Conn) {
		defer closeBoth()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case <-p.gate():
				case <-done:
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(server, client)
	go pipe(client, server)
}
