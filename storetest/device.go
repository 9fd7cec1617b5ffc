package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

func testDevice(t *testing.T, s regcenter.Store) {
	const esn = "21500102003SJ0000042"
	c := claim(esn, "S5735-L24T4S-A",
		regcenter.Address{Host: "edge.example.net", Port: 10020},
		regcenter.Address{Host: "2001:db8::42", Port: 10020})
	wantOutcomes(t, mustClaim(t, s, "cmp-a", at(0), c), created)
	rec := regcenter.BootstrapRecord{ESN: esn, PlatformID: "cmp-a", At: at(time.Hour), Count: 3, Mode: regcenter.ModeCloud, SoftwareVersion: "V200R022C10SPC500"}
	if err := s.RecordBootstraps(t.Context(), []regcenter.BootstrapRecord{rec}); err != nil {
		t.Fatalf("RecordBootstraps = %v", err)
	}

	want := claimed("cmp-a", c, at(0))
	want.LastBootstrapAt, want.BootstrapCount = rec.At, rec.Count
	want.LastMode, want.LastSoftwareVersion = rec.Mode, rec.SoftwareVersion
	wantDevice(t, mustDevice(t, s, "cmp-a", esn), want)

	for _, tc := range []struct{ name, platformID, esn string }{
		{"another platform's device", "cmp-b", esn},
		{"unknown ESN", "cmp-a", "21500102003SJ0000043"},
		{"unknown platform", "cmp-z", esn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantDeviceNotFound(t, s, tc.platformID, tc.esn)
		})
	}
}

func testDevices(t *testing.T, s regcenter.Store) {
	// Claimed out of order, with the characters whose order differs
	// between bytewise and locale-aware collations ('-' '.' '_' digits).
	mine := []string{"B0", "A_3", "AA", "A1", "A.2", "A-1"}
	theirs := []string{"A0", "A10", "AB"}
	for _, tc := range []struct {
		platformID string
		esns       []string
	}{{"cmp-a", mine}, {"cmp-b", theirs}} {
		claims := make([]regcenter.DeviceClaim, len(tc.esns))
		for i, e := range tc.esns {
			claims[i] = claim(e, "T-"+tc.platformID)
		}
		mustClaim(t, s, tc.platformID, at(0), claims...)
	}

	sorted := slices.Sorted(slices.Values(mine)) // A-1 A.2 A1 AA A_3 B0
	tests := []struct {
		name       string
		platformID string
		after      string
		limit      int
		want       []string
	}{
		{"all", "cmp-a", "", 100, sorted},
		{"exactly all", "cmp-a", "", len(mine), sorted},
		{"first page", "cmp-a", "", 2, sorted[:2]},
		{"second page", "cmp-a", sorted[1], 2, sorted[2:4]},
		{"last page", "cmp-a", sorted[3], 2, sorted[4:]},
		{"after the last", "cmp-a", sorted[5], 10, nil},
		{"after an ESN that is not the caller's", "cmp-a", "A0", 10, sorted[2:]},
		{"after a prefix", "cmp-a", "A", 3, sorted[:3]},
		{"after everything", "cmp-a", "ZZZ", 10, nil},
		{"only the caller's", "cmp-b", "", 100, theirs},
		{"a platform without devices", "cmp-z", "", 100, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			devs, err := s.Devices(t.Context(), tc.platformID, tc.after, tc.limit)
			if err != nil {
				t.Fatalf("Devices(%s, %q, %d) = %v", tc.platformID, tc.after, tc.limit, err)
			}
			got := make([]string, len(devs))
			for i, d := range devs {
				got[i] = d.ESN
				if d.PlatformID != tc.platformID || d.DeviceType != "T-"+tc.platformID || !d.ClaimedAt.Equal(at(0)) {
					t.Errorf("device %s = %+v, want one of %s claimed at %v", d.ESN, d, tc.platformID, at(0))
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Devices(%s, %q, %d) = %q, want %q", tc.platformID, tc.after, tc.limit, got, tc.want)
			}
		})
	}
}

func testRelease(t *testing.T, s regcenter.Store) {
	ctx := t.Context()
	const esn = "21500102003SJ0000099"
	c := claim(esn, "S5735-L24T4S-A", regcenter.Address{Host: "a.example.net", Port: 10020})
	keep := claim("21500102003SJ0000100", "S5735-L24T4S-A")
	wantOutcomes(t, mustClaim(t, s, "cmp-a", at(0), c, keep), created, created)
	rec := regcenter.BootstrapRecord{ESN: esn, PlatformID: "cmp-a", At: at(time.Hour), Count: 2, Mode: regcenter.ModeTraditional, SoftwareVersion: "V1"}
	if err := s.RecordBootstraps(ctx, []regcenter.BootstrapRecord{rec}); err != nil {
		t.Fatalf("RecordBootstraps = %v", err)
	}
	before := mustDevice(t, s, "cmp-a", esn)

	// Another platform cannot release it, and cannot tell it exists.
	wantNotFound(t, s.ReleaseDevice(ctx, "cmp-b", esn), "ReleaseDevice of another platform's device")
	wantDevice(t, mustDevice(t, s, "cmp-a", esn), before)

	wantNotFound(t, s.ReleaseDevice(ctx, "cmp-a", "21500102003SJ0000098"), "ReleaseDevice of an unclaimed ESN")

	if err := s.ReleaseDevice(ctx, "cmp-a", esn); err != nil {
		t.Fatalf("ReleaseDevice(cmp-a, %s) = %v", esn, err)
	}
	wantDeviceNotFound(t, s, "cmp-a", esn)
	_, _, err := s.BootstrapTarget(ctx, esn)
	wantNotFound(t, err, "BootstrapTarget of a released ESN")
	wantNotFound(t, s.ReleaseDevice(ctx, "cmp-a", esn), "ReleaseDevice twice")
	wantDevice(t, mustDevice(t, s, "cmp-a", keep.ESN), claimed("cmp-a", keep, at(0)))

	// Released, it is anyone's to claim, from scratch.
	other := claim(esn, "S6730-H24X6C")
	wantOutcomes(t, mustClaim(t, s, "cmp-b", at(2*time.Hour), other), created)
	wantDevice(t, mustDevice(t, s, "cmp-b", esn), claimed("cmp-b", other, at(2*time.Hour)))
	wantDeviceNotFound(t, s, "cmp-a", esn)
}
