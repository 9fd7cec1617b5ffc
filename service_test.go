package regcenter_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/sqlite"
)

var (
	platformA = regcenter.Identity{Role: regcenter.RolePlatform, ID: "platform-a"}
	platformB = regcenter.Identity{Role: regcenter.RolePlatform, ID: "platform-b"}
)

func device(esn string) regcenter.Identity {
	return regcenter.Identity{Role: regcenter.RoleDevice, ID: esn}
}

type fixture struct {
	svc      *regcenter.Service
	store    regcenter.Store
	recorder *regcenter.BootstrapRecorder
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "center.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{store: db, now: time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)}
	f.recorder = regcenter.NewBootstrapRecorder(db, regcenter.RecorderConfig{})
	f.svc = regcenter.NewService(regcenter.ServiceConfig{
		Store: db, Recorder: f.recorder, Now: func() time.Time { return f.now }, NotClaimedRetryAfter: 42 * time.Second,
	})
	return f
}

func (f *fixture) publish(t *testing.T, caller regcenter.Identity, host string) {
	t.Helper()
	if _, err := f.svc.PutPlatform(context.Background(), caller, []regcenter.Address{{Host: host, Port: 10030}}, ""); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) upload(t *testing.T, caller regcenter.Identity, items ...regcenter.DeviceUpload) regcenter.UploadReport {
	t.Helper()
	rep, err := f.svc.UploadDevices(context.Background(), caller, items)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantCode(t *testing.T, err error, kind error, code string) *regcenter.Error {
	t.Helper()
	e, ok := regcenter.AsError(err)
	if !ok || !errors.Is(err, kind) || e.Code != code {
		t.Fatalf("error = %v; want kind %v code %s", err, kind, code)
	}
	return e
}

func TestUploadReportsEveryItemInOrder(t *testing.T) {
	f := newFixture(t)
	f.upload(t, platformB, regcenter.DeviceUpload{ESN: "HELDBYB", DeviceType: "S5735"})

	rep := f.upload(t, platformA,
		regcenter.DeviceUpload{ESN: "esn-1", DeviceType: "S5735"},
		regcenter.DeviceUpload{ESN: "bad esn", DeviceType: "S5735"},
		regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S5735"},
		regcenter.DeviceUpload{ESN: "heldbyb", DeviceType: "S5735"},
		regcenter.DeviceUpload{ESN: "ESN-2", DeviceType: ""},
		regcenter.DeviceUpload{ESN: "ESN-3", DeviceType: "S5735", Addresses: []regcenter.Address{}},
		regcenter.DeviceUpload{ESN: "ESN-4", DeviceType: "S5735", Addresses: []regcenter.Address{{Host: "cmp2.example.net", Port: 443}}},
	)
	want := []struct {
		esn    string
		result regcenter.UploadOutcome
	}{
		{"ESN-1", regcenter.OutcomeCreated},
		{"bad esn", regcenter.OutcomeInvalid},
		{"ESN-1", regcenter.OutcomeInvalid},
		{"HELDBYB", regcenter.OutcomeConflict},
		{"ESN-2", regcenter.OutcomeInvalid},
		{"ESN-3", regcenter.OutcomeInvalid},
		{"ESN-4", regcenter.OutcomeCreated},
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(want))
	}
	for i, w := range want {
		if r := rep.Results[i]; r.ESN != w.esn || r.Result != w.result {
			t.Errorf("result %d = %+v; want %s %s", i, r, w.esn, w.result)
		}
	}
	if got := rep.Results[3].Detail; strings.Contains(got, platformB.ID) || got == "" {
		t.Errorf("conflict detail %q must explain without naming the holder", got)
	}
	if !strings.Contains(rep.Results[2].Detail, "more than once") {
		t.Errorf("duplicate detail = %q", rep.Results[2].Detail)
	}
	if c := rep.Counts; c != (regcenter.UploadCounts{Created: 2, Conflict: 1, Invalid: 4}) {
		t.Errorf("counts = %+v", c)
	}
	// The holder keeps its claim.
	if d, err := f.store.Device(context.Background(), platformB.ID, "HELDBYB"); err != nil || d.PlatformID != platformB.ID {
		t.Errorf("B's device after A's conflicting upload: %+v, %v", d, err)
	}
}

func TestUploadIsIdempotent(t *testing.T) {
	f := newFixture(t)
	item := regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S5735"}
	f.upload(t, platformA, item)
	if rep := f.upload(t, platformA, item); rep.Results[0].Result != regcenter.OutcomeUnchanged {
		t.Errorf("second upload: %+v", rep.Results[0])
	}
	item.DeviceType = "S6730"
	if rep := f.upload(t, platformA, item); rep.Results[0].Result != regcenter.OutcomeUpdated {
		t.Errorf("changed upload: %+v", rep.Results[0])
	}
}

func TestUploadLimits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.svc.UploadDevices(ctx, platformA, nil)
	wantCode(t, err, regcenter.ErrInvalid, regcenter.CodeInvalid)

	items := make([]regcenter.DeviceUpload, regcenter.MaxUploadDevices+1)
	for i := range items {
		items[i] = regcenter.DeviceUpload{ESN: fmt.Sprintf("ESN%05d", i), DeviceType: "S5735"}
	}
	_, err = f.svc.UploadDevices(ctx, platformA, items)
	wantCode(t, err, regcenter.ErrTooLarge, regcenter.CodeTooLarge)
	if devs, _ := f.store.Devices(ctx, platformA.ID, "", 10); len(devs) != 0 {
		t.Errorf("a refused upload stored %d devices", len(devs))
	}

	rep, err := f.svc.UploadDevices(ctx, platformA, items[:regcenter.MaxUploadDevices])
	if err != nil || rep.Counts.Created != regcenter.MaxUploadDevices {
		t.Fatalf("upload of the maximum: %+v, %v", rep.Counts, err)
	}
}

func TestRolesAreEnforced(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	dev := device("ESN-1")
	_, err := f.svc.PutPlatform(ctx, dev, []regcenter.Address{{Host: "x.example", Port: 1}}, "")
	wantCode(t, err, regcenter.ErrForbidden, regcenter.CodeWrongRole)
	_, err = f.svc.UploadDevices(ctx, dev, []regcenter.DeviceUpload{{ESN: "ESN-1", DeviceType: "S"}})
	wantCode(t, err, regcenter.ErrForbidden, regcenter.CodeWrongRole)
	_, err = f.svc.Devices(ctx, dev, "", 0)
	wantCode(t, err, regcenter.ErrForbidden, regcenter.CodeWrongRole)
	err = f.svc.ReleaseDevice(ctx, dev, "ESN-1")
	wantCode(t, err, regcenter.ErrForbidden, regcenter.CodeWrongRole)
	_, err = f.svc.Bootstrap(ctx, platformA, regcenter.BootstrapRequest{ESN: "ESN-1", Mode: regcenter.ModeTraditional})
	wantCode(t, err, regcenter.ErrForbidden, regcenter.CodeWrongRole)
}

func TestPlatformNotConfigured(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Platform(context.Background(), platformA)
	wantCode(t, err, regcenter.ErrNotFound, regcenter.CodePlatformNotConfigured)

	f.publish(t, platformA, "cmp.example.net")
	p, err := f.svc.Platform(context.Background(), platformA)
	if err != nil || p.ID != platformA.ID || p.Addresses[0].Host != "cmp.example.net" || !p.UpdatedAt.Equal(f.now.Truncate(time.Microsecond)) {
		t.Fatalf("platform = %+v, %v", p, err)
	}
}

func TestBootstrap(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ask := func(caller regcenter.Identity, esn string) (regcenter.BootstrapAnswer, error) {
		return f.svc.Bootstrap(ctx, caller, regcenter.BootstrapRequest{ESN: esn, DeviceType: "S5735", SoftwareVersion: "V200R022", Mode: regcenter.ModeTraditional})
	}

	_, err := ask(device("ESN-1"), "ESN-1")
	if e := wantCode(t, err, regcenter.ErrNotFound, regcenter.CodeNotClaimed); e.RetryAfter != 42*time.Second {
		t.Errorf("RetryAfter = %v", e.RetryAfter)
	}

	f.upload(t, platformA, regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S5735"},
		regcenter.DeviceUpload{ESN: "ESN-2", DeviceType: "S5735", Addresses: []regcenter.Address{{Host: "192.0.2.7", Port: 8443}}})
	_, err = ask(device("ESN-1"), "ESN-1")
	wantCode(t, err, regcenter.ErrNotFound, regcenter.CodeNotClaimed) // claimed, but no address published yet

	ans, err := ask(device("ESN-2"), "esn-2")
	if err != nil || ans.Addresses[0].Host != "192.0.2.7" || ans.PlatformID != platformA.ID {
		t.Fatalf("device override before the platform published: %+v, %v", ans, err)
	}

	f.publish(t, platformA, "cmp.example.net")
	ans, err = ask(device("ESN-1"), "esn-1")
	if err != nil || ans.ESN != "ESN-1" || ans.PlatformID != platformA.ID || len(ans.Addresses) != 1 || ans.Addresses[0].Host != "cmp.example.net" {
		t.Fatalf("answer = %+v, %v", ans, err)
	}

	_, err = ask(device("ESN-1"), "ESN-2")
	wantCode(t, err, regcenter.ErrForbidden, regcenter.CodeESNMismatch)

	_, err = f.svc.Bootstrap(ctx, device("ESN-1"), regcenter.BootstrapRequest{ESN: "ESN-1", Mode: "maintenance"})
	wantCode(t, err, regcenter.ErrInvalid, regcenter.CodeInvalid)
}

func TestBootstrapIsRecordedAfterFlush(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.publish(t, platformA, "cmp.example.net")
	f.upload(t, platformA, regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S5735"})

	for i, mode := range []regcenter.Mode{regcenter.ModeTraditional, regcenter.ModeCloud} {
		f.now = f.now.Add(time.Minute)
		if _, err := f.svc.Bootstrap(ctx, device("ESN-1"), regcenter.BootstrapRequest{ESN: "ESN-1", Mode: mode, SoftwareVersion: fmt.Sprintf("V%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := f.store.Device(ctx, platformA.ID, "ESN-1")
	if d.BootstrapCount != 0 {
		t.Fatalf("recorded before any flush: %+v", d)
	}
	if err := f.recorder.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d, _ = f.store.Device(ctx, platformA.ID, "ESN-1")
	if d.BootstrapCount != 2 || d.LastMode != regcenter.ModeCloud || d.LastSoftwareVersion != "V1" || !d.LastBootstrapAt.Equal(f.now.Truncate(time.Microsecond)) {
		t.Fatalf("after flush: %+v", d)
	}
}

func TestDevicesPaging(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := range 5 {
		f.upload(t, platformA, regcenter.DeviceUpload{ESN: fmt.Sprintf("A%d", i), DeviceType: "S"})
	}
	f.upload(t, platformB, regcenter.DeviceUpload{ESN: "B0", DeviceType: "S"})

	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		page, err := f.svc.Devices(ctx, platformA, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Devices {
			got = append(got, d.ESN)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if strings.Join(got, ",") != "A0,A1,A2,A3,A4" {
		t.Errorf("paged ESNs = %v", got)
	}
	for _, limit := range []int{-1, regcenter.MaxPageSize + 1} {
		_, err := f.svc.Devices(ctx, platformA, "", limit)
		wantCode(t, err, regcenter.ErrInvalid, regcenter.CodeInvalid)
	}
}

func TestAnotherPlatformsDeviceIsNotFound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, platformA, regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S"})

	_, errGet := f.svc.Device(ctx, platformB, "ESN-1")
	_, errAbsent := f.svc.Device(ctx, platformB, "ESN-404")
	errRelease := f.svc.ReleaseDevice(ctx, platformB, "ESN-1")
	for _, err := range []error{errGet, errAbsent, errRelease} {
		e := wantCode(t, err, regcenter.ErrNotFound, regcenter.CodeNotFound)
		if strings.Contains(e.Detail, platformA.ID) {
			t.Errorf("detail names the holder: %q", e.Detail)
		}
	}
	if errGet.Error() != errAbsent.Error() {
		t.Errorf("held elsewhere %q differs from absent %q", errGet, errAbsent)
	}

	if err := f.svc.ReleaseDevice(ctx, platformA, "esn-1"); err != nil {
		t.Fatal(err)
	}
	if rep := f.upload(t, platformB, regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S"}); rep.Results[0].Result != regcenter.OutcomeCreated {
		t.Errorf("claim after release: %+v", rep.Results[0])
	}
}

func TestValidateTrustAnchor(t *testing.T) {
	for _, bad := range []string{
		"not pem",
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if err := regcenter.ValidateTrustAnchor(bad); !errors.Is(err, regcenter.ErrInvalid) {
			t.Errorf("ValidateTrustAnchor(%q) = %v", bad, err)
		}
	}
	if err := regcenter.ValidateTrustAnchor(""); err != nil {
		t.Errorf("empty trust anchor: %v", err)
	}
}
