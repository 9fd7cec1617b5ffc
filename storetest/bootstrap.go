package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

func testBootstrapTarget(t *testing.T, s regcenter.Store) {
	ctx := t.Context()
	override := []regcenter.Address{{Host: "edge.example.net", Port: 10020}, {Host: "198.51.100.9", Port: 10020}}
	plainA := claim("PLAIN-A", "S5735-L24T4S-A")
	overrideA := claim("OVERRIDE-A", "S5735-L24T4S-A", override...)
	plainB := claim("PLAIN-B", "S6730-H24X6C")
	mustClaim(t, s, "cmp-a", at(0), plainA, overrideA)
	mustClaim(t, s, "cmp-b", at(time.Second), plainB)

	_, _, err := s.BootstrapTarget(ctx, "UNCLAIMED")
	wantNotFound(t, err, "BootstrapTarget of an unclaimed ESN")

	// Nobody has published yet: the claim is found, the platform is
	// known only by its ID.
	for _, tc := range []struct {
		platformID string
		c          regcenter.DeviceClaim
		claimedAt  time.Time
	}{{"cmp-a", plainA, at(0)}, {"cmp-a", overrideA, at(0)}, {"cmp-b", plainB, at(time.Second)}} {
		dev, p, err := s.BootstrapTarget(ctx, tc.c.ESN)
		if err != nil {
			t.Fatalf("BootstrapTarget(%s) before publishing = %v", tc.c.ESN, err)
		}
		wantDevice(t, dev, claimed(tc.platformID, tc.c, tc.claimedAt))
		wantPlatform(t, p, regcenter.Platform{ID: tc.platformID})
	}

	pa := regcenter.Platform{
		ID:          "cmp-a",
		Addresses:   []regcenter.Address{{Host: "cmp-a.example.net", Port: 10020}, {Host: "192.0.2.10", Port: 10020}},
		TrustAnchor: trustAnchor,
		UpdatedAt:   at(time.Minute),
	}
	pb := regcenter.Platform{
		ID:        "cmp-b",
		Addresses: []regcenter.Address{{Host: "cmp-b.example.org", Port: 443}},
		UpdatedAt: at(2 * time.Minute),
	}
	for _, p := range []regcenter.Platform{pa, pb} {
		if err := s.PutPlatform(ctx, p); err != nil {
			t.Fatalf("PutPlatform(%s) = %v", p.ID, err)
		}
	}

	tests := []struct {
		name      string
		c         regcenter.DeviceClaim
		wantDev   regcenter.Device
		wantPlatf regcenter.Platform
	}{
		{"platform addresses", plainA, claimed("cmp-a", plainA, at(0)), pa},
		{"device override", overrideA, claimed("cmp-a", overrideA, at(0)), pa},
		{"the holder's platform", plainB, claimed("cmp-b", plainB, at(time.Second)), pb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev, p, err := s.BootstrapTarget(ctx, tc.c.ESN)
			if err != nil {
				t.Fatalf("BootstrapTarget(%s) = %v", tc.c.ESN, err)
			}
			wantDevice(t, dev, tc.wantDev)
			wantPlatform(t, p, tc.wantPlatf)
		})
	}
}

func testRecordBootstraps(t *testing.T, s regcenter.Store) {
	ctx := t.Context()
	c1, c2 := claim("REC1", "T1"), claim("REC2", "T1")
	mustClaim(t, s, "cmp-a", at(0), c1, c2)

	record := func(t *testing.T, recs ...regcenter.BootstrapRecord) {
		t.Helper()
		if err := s.RecordBootstraps(ctx, recs); err != nil {
			t.Fatalf("RecordBootstraps(%d records) = %v", len(recs), err)
		}
	}
	rec := func(esn string, d time.Duration, count int64, mode regcenter.Mode, version string) regcenter.BootstrapRecord {
		return regcenter.BootstrapRecord{ESN: esn, PlatformID: "cmp-a", At: at(d), Count: count, Mode: mode, SoftwareVersion: version}
	}
	// stats is the Device of c after the records so far.
	stats := func(c regcenter.DeviceClaim, last time.Duration, count int64, mode regcenter.Mode, version string) regcenter.Device {
		d := claimed("cmp-a", c, at(0))
		d.LastBootstrapAt, d.BootstrapCount, d.LastMode, d.LastSoftwareVersion = at(last), count, mode, version
		return d
	}
	check := func(t *testing.T, want regcenter.Device) {
		t.Helper()
		wantDevice(t, mustDevice(t, s, "cmp-a", want.ESN), want)
		dev, _, err := s.BootstrapTarget(ctx, want.ESN)
		if err != nil {
			t.Fatalf("BootstrapTarget(%s) = %v", want.ESN, err)
		}
		wantDevice(t, dev, want.ClaimOnly())
	}

	record(t,
		rec("REC1", 10*time.Second, 3, regcenter.ModeTraditional, "V100"),
		rec("REC2", 5*time.Second, 1, regcenter.ModeCloud, "V200"))
	check(t, stats(c1, 10*time.Second, 3, regcenter.ModeTraditional, "V100"))
	check(t, stats(c2, 5*time.Second, 1, regcenter.ModeCloud, "V200"))

	// Newer: adds its count and takes over last_*.
	record(t, rec("REC1", 20*time.Second, 2, regcenter.ModeCloud, "V101"))
	check(t, stats(c1, 20*time.Second, 5, regcenter.ModeCloud, "V101"))

	// Older (a slower replica's flush): adds its count only.
	record(t, rec("REC1", 15*time.Second, 4, regcenter.ModeTraditional, "V099"))
	check(t, stats(c1, 20*time.Second, 9, regcenter.ModeCloud, "V101"))
	check(t, stats(c2, 5*time.Second, 1, regcenter.ModeCloud, "V200"))

	// An empty batch is no batch.
	record(t)
	check(t, stats(c1, 20*time.Second, 9, regcenter.ModeCloud, "V101"))
}

func testRecordBootstrapsDropped(t *testing.T, s regcenter.Store) {
	ctx := t.Context()
	released, moved, kept := claim("RELEASED", "T1"), claim("MOVED", "T1"), claim("KEPT", "T1")
	mustClaim(t, s, "cmp-a", at(0), released, moved, kept)
	for _, esn := range []string{released.ESN, moved.ESN} {
		if err := s.ReleaseDevice(ctx, "cmp-a", esn); err != nil {
			t.Fatalf("ReleaseDevice(%s) = %v", esn, err)
		}
	}
	movedB := claim("MOVED", "T2")
	mustClaim(t, s, "cmp-b", at(time.Minute), movedB)

	rec := func(esn, platformID string) regcenter.BootstrapRecord {
		return regcenter.BootstrapRecord{ESN: esn, PlatformID: platformID, At: at(time.Hour), Count: 5, Mode: regcenter.ModeCloud, SoftwareVersion: "V9"}
	}
	// One batch: the records that no longer apply must not fail or hold
	// back the one that does.
	err := s.RecordBootstraps(ctx, []regcenter.BootstrapRecord{
		rec("RELEASED", "cmp-a"),
		rec("MOVED", "cmp-a"),
		rec("KEPT", "cmp-a"),
		rec("NEVERCLAIMED", "cmp-a"),
		rec("KEPT", "cmp-b"), // a record naming the wrong holder
	})
	if err != nil {
		t.Fatalf("RecordBootstraps = %v", err)
	}

	_, _, err = s.BootstrapTarget(ctx, "RELEASED")
	wantNotFound(t, err, "BootstrapTarget of a released ESN after a record for it")
	_, _, err = s.BootstrapTarget(ctx, "NEVERCLAIMED")
	wantNotFound(t, err, "BootstrapTarget of an unclaimed ESN after a record for it")
	wantDevice(t, mustDevice(t, s, "cmp-b", "MOVED"), claimed("cmp-b", movedB, at(time.Minute)))

	want := claimed("cmp-a", kept, at(0))
	want.LastBootstrapAt, want.BootstrapCount, want.LastMode, want.LastSoftwareVersion = at(time.Hour), 5, regcenter.ModeCloud, "V9"
	wantDevice(t, mustDevice(t, s, "cmp-a", "KEPT"), want)
}

// testRecordBootstrapsConcurrent flushes from several goroutines at once,
// as several center replicas do: no increment may be lost, and the newest
// record wins last_* whichever batch commits last.
func testRecordBootstrapsConcurrent(t *testing.T, s regcenter.Store) {
	const (
		goroutines = 8
		batches    = 50
	)
	c1, c2 := claim("CONC1", "T1"), claim("CONC2", "T1")
	mustClaim(t, s, "cmp-a", at(0), c1, c2)

	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for b := range batches {
				// Interleave the times so that newer and older records
				// reach the store in no particular order.
				k := b*goroutines + g
				when := at(time.Duration(k) * time.Millisecond)
				version := fmt.Sprintf("V%03d", k)
				err := s.RecordBootstraps(t.Context(), []regcenter.BootstrapRecord{
					{ESN: "CONC1", PlatformID: "cmp-a", At: when, Count: 1, Mode: regcenter.ModeTraditional, SoftwareVersion: version},
					{ESN: "CONC2", PlatformID: "cmp-a", At: when, Count: 2, Mode: regcenter.ModeCloud, SoftwareVersion: version},
				})
				if err != nil {
					t.Errorf("RecordBootstraps from goroutine %d = %v", g, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	newest := goroutines*batches - 1
	for _, tc := range []struct {
		c     regcenter.DeviceClaim
		count int64
		mode  regcenter.Mode
	}{{c1, goroutines * batches, regcenter.ModeTraditional}, {c2, 2 * goroutines * batches, regcenter.ModeCloud}} {
		want := claimed("cmp-a", tc.c, at(0))
		want.BootstrapCount, want.LastMode = tc.count, tc.mode
		want.LastBootstrapAt = at(time.Duration(newest) * time.Millisecond)
		want.LastSoftwareVersion = fmt.Sprintf("V%03d", newest)
		wantDevice(t, mustDevice(t, s, "cmp-a", tc.c.ESN), want)
	}
}

// testBootstrapTargetSeesEveryChange asks before and after every kind of
// change: a store that keeps answers (a cache) must never answer from
// before a change that has returned.
func testBootstrapTargetSeesEveryChange(t *testing.T, s regcenter.Store) {
	ctx := t.Context()
	target := func() (regcenter.Device, regcenter.Platform, error) { return s.BootstrapTarget(ctx, "SEEN-1") }
	mustTarget := func(what string) (regcenter.Device, regcenter.Platform) {
		t.Helper()
		d, p, err := target()
		if err != nil {
			t.Fatalf("BootstrapTarget %s = %v", what, err)
		}
		return d, p
	}
	put := func(host string, when time.Duration) {
		t.Helper()
		if err := s.PutPlatform(ctx, regcenter.Platform{ID: "cmp-a", Addresses: []regcenter.Address{{Host: host, Port: 10030}}, UpdatedAt: at(when)}); err != nil {
			t.Fatal(err)
		}
	}
	put("first.example.net", 0)
	mustClaim(t, s, "cmp-a", at(0), claim("SEEN-1", "S5735"))
	mustTarget("after the claim")
	mustTarget("again") // a second read, which a cache answers

	put("second.example.net", time.Second)
	if _, p := mustTarget("after PutPlatform"); p.Addresses[0].Host != "second.example.net" {
		t.Errorf("after the platform moved the answer is %+v", p.Addresses)
	}

	override := regcenter.Address{Host: "edge.example.net", Port: 443}
	wantOutcomes(t, mustClaim(t, s, "cmp-a", at(time.Minute), claim("SEEN-1", "S6730", override)), regcenter.OutcomeUpdated)
	if d, _ := mustTarget("after the claim changed"); d.DeviceType != "S6730" || len(d.Addresses) != 1 || d.Addresses[0] != override {
		t.Errorf("after the claim changed the device is %+v", d)
	}

	mustRecord(t, s, record("SEEN-1", "cmp-a", at(2*time.Minute), 5, regcenter.ModeCloud, "V9"))
	if d, _ := mustTarget("after RecordBootstraps"); d.BootstrapCount != 0 || d.DeviceType != "S6730" {
		t.Errorf("after recording the answer's device is %+v; want the claim without statistics", d)
	}

	if err := s.ReleaseDevice(ctx, "cmp-a", "SEEN-1"); err != nil {
		t.Fatal(err)
	}
	_, _, err := target()
	wantNotFound(t, err, "BootstrapTarget after the release")

	mustClaim(t, s, "cmp-b", at(3*time.Minute), claim("SEEN-1", "S5735"))
	if d, p := mustTarget("after another platform claimed it"); d.PlatformID != "cmp-b" || p.ID != "cmp-b" || len(p.Addresses) != 0 {
		t.Errorf("after cmp-b claimed it: %+v, %+v", d, p)
	}
}
