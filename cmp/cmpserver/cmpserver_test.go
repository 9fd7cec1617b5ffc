package cmpserver_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/cmp/cmptest"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

// TestImportIsClaimedAtTheCenter: devices imported into the platform are
// claimed at the center over HTTP/2, and the admin list shows it; the
// platform published its address and its trust anchor first.
func TestImportIsClaimedAtTheCenter(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	env := newEnv(t, p, c.URL, "cmp-a")
	plat := env.start(t)

	got := importCSV(t, plat, "esn,device_type\nsw-1,S5735-L24T4S-A\nSW-2,S5735-L24T4S-A\nSW-3,S6730\n")
	if got != (cmpwire.ImportResponse{Imported: 3}) {
		t.Errorf("import answered %+v", got)
	}
	devs := waitStates(t, plat, map[string]string{"SW-1": cmpwire.StateClaimed, "SW-2": cmpwire.StateClaimed, "SW-3": cmpwire.StateClaimed})
	if d := devs["SW-3"]; d.DeviceType != "S6730" || d.ClaimedAt == nil || d.ImportedAt.IsZero() {
		t.Errorf("SW-3 in the admin list: %+v", d)
	}

	asPlatform := p.Client(t, c, p.PlatformCert(t, "cmp-a"))
	held := centerDevices(t, asPlatform)
	if len(held) != 3 || held["SW-1"].DeviceType != "S5735-L24T4S-A" || held["SW-3"].DeviceType != "S6730" {
		t.Errorf("the center holds %+v", held)
	}
	rec, err := asPlatform.Platform(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Addresses, []regcenter.Address{{Host: "127.0.0.1", Port: port(t, plat.DeviceAddr)}}) || rec.TrustAnchor != string(p.PlatformCA.CertPEM()) {
		t.Errorf("published %+v, want the device listener and the platform CA", rec)
	}
	onlyHTTP2(t, c)
}

// TestConflictAndReimport: an ESN another platform holds ends in conflict
// with the center's detail; once released there, importing it again
// claims it.
func TestConflictAndReimport(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	other := p.Client(t, c, p.PlatformCert(t, "cmp-b"))
	ctx := context.Background()
	if _, err := other.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: "SW-TAKEN", DeviceType: "S"}}); err != nil {
		t.Fatal(err)
	}
	plat := newEnv(t, p, c.URL, "cmp-a").start(t)
	importCSV(t, plat, "esn,device_type\nSW-TAKEN,S\nSW-FREE,S\n")
	devs := waitStates(t, plat, map[string]string{"SW-TAKEN": cmpwire.StateConflict, "SW-FREE": cmpwire.StateClaimed})
	if d := devs["SW-TAKEN"]; d.Detail != "another platform holds this ESN" || d.ClaimedAt != nil {
		t.Errorf("SW-TAKEN = %+v, want the center's detail", d)
	}

	if err := other.ReleaseDevice(ctx, "SW-TAKEN"); err != nil {
		t.Fatal(err)
	}
	if got := importCSV(t, plat, "esn,device_type\nSW-TAKEN,S\n"); got != (cmpwire.ImportResponse{Unchanged: 1}) {
		t.Errorf("import again answered %+v", got)
	}
	devs = waitStates(t, plat, map[string]string{"SW-TAKEN": cmpwire.StateClaimed})
	if d := devs["SW-TAKEN"]; d.Detail != "" {
		t.Errorf("SW-TAKEN claimed still carries %q", d.Detail)
	}
}

// TestCenterRestartWithBacklog: while the center is down, imports pile up
// in the outbox; a center back on the same address and database gets all
// of them.
func TestCenterRestartWithBacklog(t *testing.T) {
	p := centertest.NewPKI(t)
	dbPath := t.TempDir() + "/center.db"
	c := centertest.Start(t, p, centertest.Options{DBPath: dbPath})
	plat := newEnv(t, p, c.URL, "cmp-a").start(t)
	importCSV(t, plat, "esn,device_type\nSW-0,S\n")
	waitStates(t, plat, map[string]string{"SW-0": cmpwire.StateClaimed})

	c.Stop()
	csv := "esn,device_type\n"
	want := map[string]string{"SW-0": cmpwire.StateClaimed}
	for _, esn := range []string{"SW-1", "SW-2", "SW-3", "SW-4", "SW-5"} {
		csv += esn + ",S\n"
		want[esn] = cmpwire.StateClaimed
	}
	importCSV(t, plat, csv)
	cmptest.Eventually(t, "the syncer to fail against the stopped center", func() bool { return plat.Syncer.Status().Failures >= 2 })
	if d := adminDevices(t, plat)["SW-3"]; d.State != cmpwire.StateImported {
		t.Errorf("SW-3 while the center is down: %s", d.State)
	}

	c2 := centertest.Start(t, p, centertest.Options{DBPath: dbPath, Addr: c.Addr})
	waitStates(t, plat, want)
	if held := centerDevices(t, p.Client(t, c2, p.PlatformCert(t, "cmp-a"))); len(held) != 6 {
		t.Errorf("the restarted center holds %d devices, want 6", len(held))
	}
	onlyHTTP2(t, c2)
}

// TestPlatformRestartWithPendingImports: imports made while the center
// was unreachable survive the platform's restart and reach the center
// once it is up.
func TestPlatformRestartWithPendingImports(t *testing.T) {
	p := centertest.NewPKI(t)
	dbPath := t.TempDir() + "/center.db"
	c := centertest.Start(t, p, centertest.Options{DBPath: dbPath})
	c.Stop() // the center is down from the start

	env := newEnv(t, p, c.URL, "cmp-a")
	plat := env.start(t)
	importCSV(t, plat, "esn,device_type\nSW-1,S\nSW-2,S\n")
	if err := admin(t, plat).Delete(context.Background(), "SW-2"); err != nil {
		t.Fatal(err)
	}
	cmptest.Eventually(t, "a failed sync", func() bool { return plat.Syncer.Status().Failures >= 1 })
	shutdown(t, plat)

	c2 := centertest.Start(t, p, centertest.Options{DBPath: dbPath, Addr: c.Addr})
	plat = env.start(t)
	waitStates(t, plat, map[string]string{"SW-1": cmpwire.StateClaimed})
	held := centerDevices(t, p.Client(t, c2, p.PlatformCert(t, "cmp-a")))
	if _, ok := held["SW-1"]; !ok || len(held) != 1 {
		t.Errorf("the center holds %v, want SW-1 only", held)
	}
	if devs := adminDevices(t, plat); len(devs) != 1 {
		t.Errorf("after the restart the platform lists %v", devs)
	}
}

// TestDeleteReleasesAtTheCenter: a deleted device is released at the
// center, so that another platform can claim it.
func TestDeleteReleasesAtTheCenter(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	plat := newEnv(t, p, c.URL, "cmp-a").start(t)
	importCSV(t, plat, "esn,device_type\nSW-1,S\nSW-2,S\n")
	waitStates(t, plat, map[string]string{"SW-1": cmpwire.StateClaimed, "SW-2": cmpwire.StateClaimed})

	if err := admin(t, plat).Delete(context.Background(), "sw-1"); err != nil {
		t.Fatal(err)
	}
	if err := admin(t, plat).Delete(context.Background(), "SW-1"); !errors.Is(err, regcenter.ErrNotFound) {
		t.Errorf("DELETE again: %v, want not found", err)
	}
	asPlatform := p.Client(t, c, p.PlatformCert(t, "cmp-a"))
	cmptest.Eventually(t, "the release at the center", func() bool {
		_, err := asPlatform.Device(context.Background(), "SW-1")
		return errors.Is(err, regcenter.ErrNotFound)
	})
	if _, ok := centerDevices(t, asPlatform)["SW-2"]; !ok {
		t.Error("SW-2 was released too")
	}
	other := p.Client(t, c, p.PlatformCert(t, "cmp-b"))
	rep, err := other.UploadDevices(context.Background(), []regcenter.DeviceUpload{{ESN: "SW-1", DeviceType: "S"}})
	if err != nil || rep.Counts.Created != 1 {
		t.Errorf("another platform claiming SW-1: %+v, %v", rep, err)
	}
}

// TestRegisterAndHeartbeat: only devices imported here register, each
// with its own ESN; heartbeats keep it online; three missed beats (by the
// platform's clock) make it offline. Everything over HTTP/2 with mTLS.
func TestRegisterAndHeartbeat(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	env := newEnv(t, p, c.URL, "cmp-a")
	clk := cmptest.NewClock(time.Now())
	env.cfg.Now = clk.Now
	env.cfg.HeartbeatInterval = 30 * time.Second
	plat := env.start(t)
	importCSV(t, plat, "esn,device_type\nSW-1,S5735\n")
	waitStates(t, plat, map[string]string{"SW-1": cmpwire.StateClaimed})

	sw1 := env.switchClient(t, plat, "SW-1")
	var reg cmpwire.RegisterResponse
	for _, tc := range []struct {
		name string
		sw   string
		esn  string
		code string
	}{
		{"not imported", "SW-9", "SW-9", cmpwire.CodeUnknownDevice},
		{"another ESN", "SW-1", "SW-2", regcenter.CodeESNMismatch},
	} {
		err := post(t, env.switchClient(t, plat, tc.sw), "/v1/register", cmpwire.RegisterRequest{ESN: tc.esn, DeviceType: "S5735"}, &reg)
		if e, ok := regcenter.AsError(err); !ok || e.Code != tc.code || !errors.Is(err, regcenter.ErrForbidden) {
			t.Errorf("%s: %v, want 403 %s", tc.name, err, tc.code)
		}
	}
	var hb cmpwire.HeartbeatResponse
	err := post(t, sw1, "/v1/heartbeat", cmpwire.HeartbeatRequest{ESN: "SW-1"}, &hb)
	if e, ok := regcenter.AsError(err); !ok || e.Code != cmpwire.CodeNotRegistered || !errors.Is(err, regcenter.ErrConflict) {
		t.Errorf("heartbeat before registering: %v, want 409 not_registered", err)
	}

	if err := post(t, sw1, "/v1/register", cmpwire.RegisterRequest{ESN: "sw-1", DeviceType: "S5735", SoftwareVersion: "V200R022C00"}, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.ESN != "SW-1" || reg.PlatformID != "cmp-a" || reg.HeartbeatIntervalSeconds != 30 || !reg.RegisteredAt.Equal(clk.Now().UTC().Truncate(time.Microsecond)) {
		t.Errorf("register answered %+v", reg)
	}
	d := adminDevices(t, plat)["SW-1"]
	if d.State != cmpwire.StateRegistered || d.RegisteredAt == nil || d.SoftwareVersion != "V200R022C00" || d.RemoteAddr == "" {
		t.Errorf("after registering: %+v", d)
	}

	for range 2 {
		clk.Advance(30 * time.Second)
		if err := post(t, sw1, "/v1/heartbeat", cmpwire.HeartbeatRequest{ESN: "SW-1"}, &hb); err != nil {
			t.Fatal(err)
		}
		if hb.HeartbeatIntervalSeconds != 30 {
			t.Errorf("heartbeat answered %+v", hb)
		}
		if d := adminDevices(t, plat)["SW-1"]; d.State != cmpwire.StateOnline || d.LastHeartbeatAt == nil {
			t.Errorf("heartbeating: %+v", d)
		}
	}
	clk.Advance(90*time.Second + time.Millisecond)
	if d := adminDevices(t, plat)["SW-1"]; d.State != cmpwire.StateOffline {
		t.Errorf("after 3 missed heartbeats: %s, want offline", d.State)
	}

	// The device API serves device certificates only: a platform's
	// certificate does not get through the handshake.
	asPlatform := env.httpClient(t, p.PlatformCert(t, "cmp-a"))
	if resp, err := asPlatform.Post(plat.DeviceURL+"/v1/heartbeat", "application/json", nil); err == nil {
		resp.Body.Close()
		t.Errorf("a platform certificate was served: %s", resp.Status)
	}
}

// TestEventsShowCenterQueries: a switch asking the center shows up in the
// platform's admin list through the center's event stream.
func TestEventsShowCenterQueries(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{FlushInterval: 20 * time.Millisecond})
	plat := newEnv(t, p, c.URL, "cmp-a").start(t)
	importCSV(t, plat, "esn,device_type\nSW-1,S\nSW-2,S\n")
	waitStates(t, plat, map[string]string{"SW-1": cmpwire.StateClaimed, "SW-2": cmpwire.StateClaimed})

	sw := p.Client(t, c, p.DeviceCert(t, "SW-1"))
	before := time.Now().Add(-time.Second)
	for _, mode := range []regcenter.Mode{regcenter.ModeTraditional, regcenter.ModeCloud} {
		if _, err := sw.Bootstrap(context.Background(), regcenter.BootstrapRequest{ESN: "SW-1", Mode: mode}); err != nil {
			t.Fatal(err)
		}
	}
	var d cmpwire.AdminDevice
	cmptest.Eventually(t, "2 center queries of SW-1", func() bool {
		d = adminDevices(t, plat)["SW-1"]
		return d.CenterQueries == 2
	})
	if d.LastCenterQuery == nil || d.LastCenterQuery.Before(before) {
		t.Errorf("last_center_query_at %v", d.LastCenterQuery)
	}
	if other := adminDevices(t, plat)["SW-2"]; other.CenterQueries != 0 || other.LastCenterQuery != nil {
		t.Errorf("SW-2, which never asked: %+v", other)
	}
	onlyHTTP2(t, c)
}

// TestPublishOnStartAndOnChange: the platform publishes its addresses on
// every start (even unchanged: the center may have lost them) and again
// whenever they change.
func TestPublishOnStartAndOnChange(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	asPlatform := p.Client(t, c, p.PlatformCert(t, "cmp-a"))
	published := func(want []regcenter.Address, after time.Time) regcenter.Platform {
		t.Helper()
		var rec regcenter.Platform
		cmptest.Eventually(t, "the platform's record "+jsonText(want), func() bool {
			var err error
			rec, err = asPlatform.Platform(context.Background())
			return err == nil && slices.Equal(rec.Addresses, want) && rec.UpdatedAt.After(after)
		})
		return rec
	}

	env := newEnv(t, p, c.URL, "cmp-a")
	first := []regcenter.Address{{Host: "cmp.example.net", Port: 10030}}
	env.cfg.Advertise = first
	plat := env.start(t)
	rec := published(first, time.Time{})

	moved := []regcenter.Address{{Host: "cmp-2.example.net", Port: 443}, {Host: "192.0.2.10", Port: 10030}}
	if err := plat.Advertise(moved); err != nil {
		t.Fatal(err)
	}
	rec = published(moved, rec.UpdatedAt)
	if err := plat.Advertise([]regcenter.Address{{Host: "", Port: 1}}); err == nil {
		t.Error("an invalid address was accepted")
	}

	shutdown(t, plat)
	env.cfg.Advertise = moved
	env.start(t)
	published(moved, rec.UpdatedAt) // the same again, but sent again
}

func port(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
