package cmp_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmptest"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	cmpsqlite "github.com/regcenter/regcenter/cmp/sqlite"
)

func openDB(t *testing.T) *cmpsqlite.DB {
	t.Helper()
	db, err := cmpsqlite.Open(context.Background(), filepath.Join(t.TempDir(), "platform.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newService(t *testing.T) (*cmp.Service, *cmpsqlite.DB, *cmptest.Clock) {
	t.Helper()
	db := openDB(t)
	c := cmptest.NewClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
	return cmp.NewService(cmp.Config{Store: db, PlatformID: "cmp-a", HeartbeatInterval: 10 * time.Second, Now: c.Now}), db, c
}

func code(err error) string {
	if e, ok := regcenter.AsError(err); ok {
		return e.Code
	}
	return ""
}

func TestImportRefusesWholeFile(t *testing.T) {
	svc, db, _ := newService(t)
	ctx := context.Background()
	_, err := svc.Import(ctx, []cmp.ImportRow{
		{Line: 2, ESN: "SW-1", DeviceType: "S5735"},
		{Line: 3, ESN: "bad esn!", DeviceType: "S5735"},
		{Line: 4, ESN: "sw-2", DeviceType: ""},
		{Line: 5, ESN: "SW-3", DeviceType: "S5735"},
		{Line: 6, ESN: "sw-1", DeviceType: "S5735"}, // the same ESN as line 2
		{Line: 7, ESN: "SW-4", DeviceType: "type\twith tab"},
	})
	var ie *cmp.ImportError
	if !errors.As(err, &ie) || !errors.Is(err, regcenter.ErrInvalid) || code(err) != regcenter.CodeInvalid {
		t.Fatalf("Import: %v, want an *ImportError of kind ErrInvalid", err)
	}
	want := []struct {
		line int
		esn  string
	}{{2, "SW-1"}, {3, "bad esn!"}, {4, "sw-2"}, {6, "SW-1"}, {7, "SW-4"}}
	if len(ie.Rows) != len(want) {
		t.Fatalf("rows %+v", ie.Rows)
	}
	for i, w := range want {
		if r := ie.Rows[i]; r.Line != w.line || r.ESN != w.esn || r.Detail == "" {
			t.Errorf("row %d = %+v, want line %d ESN %s", i, r, w.line, w.esn)
		}
	}
	if d := ie.Rows[0].Detail; d != "ESN SW-1 appears more than once, on lines 2, 6" || ie.Rows[3].Detail != d {
		t.Errorf("duplicate detail %q / %q", d, ie.Rows[3].Detail)
	}
	if devs, _ := svc.Devices(ctx); len(devs) != 0 {
		t.Errorf("a refused import stored %d devices", len(devs))
	}
	if e, _ := db.Outbox(ctx, 10); len(e) != 0 {
		t.Errorf("a refused import queued %d entries", len(e))
	}
	select {
	case <-svc.Queued():
		t.Error("a refused import woke the syncer")
	default:
	}

	if _, err := svc.Import(ctx, nil); !errors.Is(err, regcenter.ErrInvalid) {
		t.Errorf("empty import: %v", err)
	}
	if _, err := svc.Import(ctx, make([]cmp.ImportRow, cmp.MaxImportDevices+1)); !errors.Is(err, regcenter.ErrTooLarge) {
		t.Errorf("too large an import: %v", err)
	}
}

func TestImportCountsAndWakes(t *testing.T) {
	svc, db, _ := newService(t)
	ctx := context.Background()
	rep, err := svc.Import(ctx, []cmp.ImportRow{{Line: 2, ESN: "sw-1", DeviceType: "S"}, {Line: 3, ESN: "SW-2", DeviceType: "S"}})
	if err != nil || rep != (cmp.ImportReport{Imported: 2}) {
		t.Fatalf("Import = %+v, %v", rep, err)
	}
	select {
	case <-svc.Queued():
	default:
		t.Error("an import did not wake the syncer")
	}
	rep, err = svc.Import(ctx, []cmp.ImportRow{{Line: 1, ESN: "SW-1", DeviceType: "S"}, {Line: 2, ESN: "SW-2", DeviceType: "T"}, {Line: 3, ESN: "SW-3", DeviceType: "T"}})
	if err != nil || rep != (cmp.ImportReport{Imported: 1, Unchanged: 1, Updated: 1}) {
		t.Errorf("second Import = %+v, %v", rep, err)
	}
	d, err := svc.Device(ctx, "sw-1")
	if err != nil || d.ESN != "SW-1" || d.State != cmpwire.StateImported {
		t.Errorf("Device(sw-1) = %+v, %v", d, err)
	}
	if err := svc.Delete(ctx, "sw-3"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, "sw-3"); code(err) != regcenter.CodeNotFound {
		t.Errorf("deleting twice: %v", err)
	}
	entries, _ := db.Outbox(ctx, 10)
	if len(entries) != 3 || entries[2].ESN != "SW-3" || entries[2].Op != cmp.OpRelease {
		t.Errorf("outbox %+v", entries)
	}
}

func TestRegisterHeartbeatAndStates(t *testing.T) {
	svc, _, clk := newService(t)
	ctx := context.Background()
	if _, err := svc.Import(ctx, []cmp.ImportRow{{Line: 2, ESN: "SW-1", DeviceType: "S"}}); err != nil {
		t.Fatal(err)
	}
	sw1 := regcenter.Identity{Role: regcenter.RoleDevice, ID: "SW-1"}
	sw9 := regcenter.Identity{Role: regcenter.RoleDevice, ID: "SW-9"}
	for _, tc := range []struct {
		name   string
		caller regcenter.Identity
		reg    cmp.Registration
		code   string
	}{
		{"not imported", sw9, cmp.Registration{ESN: "SW-9"}, cmpwire.CodeUnknownDevice},
		{"another ESN", sw1, cmp.Registration{ESN: "SW-2"}, regcenter.CodeESNMismatch},
		{"a platform", regcenter.Identity{Role: regcenter.RolePlatform, ID: "SW-1"}, cmp.Registration{ESN: "SW-1"}, regcenter.CodeWrongRole},
		{"bad ESN", sw1, cmp.Registration{ESN: "no such thing!"}, regcenter.CodeInvalid},
		{"bad version", sw1, cmp.Registration{ESN: "SW-1", SoftwareVersion: "v\n1"}, regcenter.CodeInvalid},
	} {
		if _, err := svc.Register(ctx, tc.caller, tc.reg); code(err) != tc.code {
			t.Errorf("%s: %v, want code %s", tc.name, err, tc.code)
		}
	}
	if err := svc.Heartbeat(ctx, sw1, "SW-1"); code(err) != cmpwire.CodeNotRegistered || !errors.Is(err, regcenter.ErrConflict) {
		t.Errorf("heartbeat before registering: %v", err)
	}
	if err := svc.Heartbeat(ctx, sw9, "SW-9"); code(err) != cmpwire.CodeUnknownDevice {
		t.Errorf("heartbeat of a device not imported: %v", err)
	}

	reg, err := svc.Register(ctx, sw1, cmp.Registration{ESN: "sw-1", DeviceType: "S", SoftwareVersion: "V1", RemoteAddr: "127.0.0.1:5000"})
	if err != nil || reg.ESN != "SW-1" || !reg.At.Equal(clk.Now()) {
		t.Fatalf("Register = %+v, %v", reg, err)
	}
	state := func() string {
		t.Helper()
		d, err := svc.Device(ctx, "SW-1")
		if err != nil {
			t.Fatal(err)
		}
		return d.State
	}
	if s := state(); s != cmpwire.StateRegistered {
		t.Errorf("after registering: %s", s)
	}
	// Heartbeats every 10s keep it online; the third missed beat makes it
	// offline.
	for range 3 {
		clk.Advance(10 * time.Second)
		if err := svc.Heartbeat(ctx, sw1, "SW-1"); err != nil {
			t.Fatal(err)
		}
		if s := state(); s != cmpwire.StateOnline {
			t.Errorf("heartbeating: %s", s)
		}
	}
	clk.Advance(30 * time.Second)
	if s := state(); s != cmpwire.StateOnline {
		t.Errorf("after exactly 3 intervals: %s, want still online", s)
	}
	clk.Advance(time.Millisecond)
	if s := state(); s != cmpwire.StateOffline {
		t.Errorf("after 3 missed beats: %s, want offline", s)
	}
	devs, _ := svc.Devices(ctx)
	if len(devs) != 1 || devs[0].State != cmpwire.StateOffline || devs[0].SoftwareVersion != "V1" || devs[0].RemoteAddr != "127.0.0.1:5000" {
		t.Errorf("Devices = %+v", devs)
	}
	// A switch that registered and never heartbeat goes offline too.
	if _, err := svc.Register(ctx, sw1, cmp.Registration{ESN: "SW-1"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	if s := state(); s != cmpwire.StateOffline {
		t.Errorf("registered, silent for 31s: %s", s)
	}
}
