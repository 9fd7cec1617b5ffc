package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

// Run checks that the stores open returns keep the regcenter.Store
// contract. Each subtest calls open once and needs a fresh, empty store;
// open registers its own cleanup (t.Cleanup) and fails t if it cannot open
// one. Subtests run in parallel, so open must give independent stores to
// concurrent callers.
//
// Beyond the letter of store.go, the suite expects what the Service relies
// on:
//   - "ESN order" is bytewise order, as Go compares strings, since the
//     Service hands the last ESN of a page back as the next cursor;
//   - a released claim takes its bootstrap statistics with it;
//   - ClaimDevices with a context that is already cancelled fails, and
//     so stores nothing;
//   - two platforms uploading overlapping batches at the same time both
//     succeed, each ESN going to exactly one of them.
func Run(t *testing.T, open func(t *testing.T) regcenter.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s regcenter.Store)
	}{
		{"Ping", testPing},
		{"Platform", testPlatform},
		{"ClaimCreated", testClaimCreated},
		{"ClaimChanges", testClaimChanges},
		{"ClaimConflict", testClaimConflict},
		{"ClaimMixedBatch", testClaimMixedBatch},
		{"ClaimLargeBatch", testClaimLargeBatch},
		{"ClaimCancelled", testClaimCancelled},
		{"ClaimConcurrentSameESN", testClaimConcurrentSameESN},
		{"ClaimConcurrentOverlappingBatches", testClaimConcurrentOverlapping},
		{"Device", testDevice},
		{"Devices", testDevices},
		{"Release", testRelease},
		{"BootstrapTarget", testBootstrapTarget},
		{"BootstrapTargetSeesEveryChange", testBootstrapTargetSeesEveryChange},
		{"RecordBootstraps", testRecordBootstraps},
		{"RecordBootstrapsDropped", testRecordBootstrapsDropped},
		{"RecordBootstrapsConcurrent", testRecordBootstrapsConcurrent},
		{"Events", testEvents},
		{"PruneEvents", testPruneEvents},
		{"EventsFollowedConcurrently", testEventsFollowedConcurrently},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.test(t, s)
		})
	}
}

func testPing(t *testing.T, s regcenter.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on an open store = %v, want nil", err)
	}
}

// epochMicros is an arbitrary instant with all six sub-second digits in
// use, so that a store that keeps only milliseconds fails.
const epochMicros = 1741964966535897

// at returns the suite's reference instant plus d, in UTC and to the
// microsecond, as the Service gives times to a store.
func at(d time.Duration) time.Time {
	return time.UnixMicro(epochMicros).UTC().Add(d).Truncate(time.Microsecond)
}

func claim(esn, deviceType string, addresses ...regcenter.Address) regcenter.DeviceClaim {
	c := regcenter.DeviceClaim{ESN: esn, DeviceType: deviceType}
	if len(addresses) > 0 {
		c.Addresses = addresses
	}
	return c
}

// claimed is the Device a fresh claim should read back as.
func claimed(platformID string, c regcenter.DeviceClaim, now time.Time) regcenter.Device {
	return regcenter.Device{ESN: c.ESN, DeviceType: c.DeviceType, PlatformID: platformID, Addresses: c.Addresses, ClaimedAt: now}
}

func mustClaim(t *testing.T, s regcenter.Store, platformID string, now time.Time, claims ...regcenter.DeviceClaim) []regcenter.UploadOutcome {
	t.Helper()
	out, err := s.ClaimDevices(t.Context(), platformID, claims, now)
	if err != nil {
		t.Fatalf("ClaimDevices(%s, %d claims) = %v", platformID, len(claims), err)
	}
	if len(out) != len(claims) {
		t.Fatalf("ClaimDevices(%s) returned %d outcomes for %d claims", platformID, len(out), len(claims))
	}
	return out
}

func wantOutcomes(t *testing.T, got []regcenter.UploadOutcome, want ...regcenter.UploadOutcome) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
}

func mustDevice(t *testing.T, s regcenter.Store, platformID, esn string) regcenter.Device {
	t.Helper()
	d, err := s.Device(t.Context(), platformID, esn)
	if err != nil {
		t.Fatalf("Device(%s, %s) = %v", platformID, esn, err)
	}
	return d
}

func wantNotFound(t *testing.T, err error, call string) {
	t.Helper()
	if !errors.Is(err, regcenter.ErrNotFound) {
		t.Fatalf("%s: error = %v, want one wrapping regcenter.ErrNotFound", call, err)
	}
}

func wantDeviceNotFound(t *testing.T, s regcenter.Store, platformID, esn string) {
	t.Helper()
	_, err := s.Device(t.Context(), platformID, esn)
	wantNotFound(t, err, fmt.Sprintf("Device(%s, %s)", platformID, esn))
}

func wantDevice(t *testing.T, got, want regcenter.Device) {
	t.Helper()
	if diff := deviceDiff(got, want); diff != "" {
		t.Fatalf("device %s:%s", want.ESN, diff)
	}
}

func wantPlatform(t *testing.T, got, want regcenter.Platform) {
	t.Helper()
	if diff := platformDiff(got, want); diff != "" {
		t.Fatalf("platform %s:%s", want.ID, diff)
	}
}

// deviceDiff lists the fields in which got differs from want; an empty
// address list and nil are the same (no override).
func deviceDiff(got, want regcenter.Device) string {
	var b strings.Builder
	field := func(name string, g, w any) {
		fmt.Fprintf(&b, "\n\t%s = %v, want %v", name, g, w)
	}
	if got.ESN != want.ESN {
		field("ESN", got.ESN, want.ESN)
	}
	if got.DeviceType != want.DeviceType {
		field("DeviceType", got.DeviceType, want.DeviceType)
	}
	if got.PlatformID != want.PlatformID {
		field("PlatformID", got.PlatformID, want.PlatformID)
	}
	if !slices.Equal(got.Addresses, want.Addresses) {
		field("Addresses", got.Addresses, want.Addresses)
	}
	timeDiff(&b, "ClaimedAt", got.ClaimedAt, want.ClaimedAt)
	timeDiff(&b, "LastBootstrapAt", got.LastBootstrapAt, want.LastBootstrapAt)
	if got.BootstrapCount != want.BootstrapCount {
		field("BootstrapCount", got.BootstrapCount, want.BootstrapCount)
	}
	if got.LastMode != want.LastMode {
		field("LastMode", got.LastMode, want.LastMode)
	}
	if got.LastSoftwareVersion != want.LastSoftwareVersion {
		field("LastSoftwareVersion", got.LastSoftwareVersion, want.LastSoftwareVersion)
	}
	return b.String()
}

func platformDiff(got, want regcenter.Platform) string {
	var b strings.Builder
	if got.ID != want.ID {
		fmt.Fprintf(&b, "\n\tID = %q, want %q", got.ID, want.ID)
	}
	if !slices.Equal(got.Addresses, want.Addresses) {
		fmt.Fprintf(&b, "\n\tAddresses = %v, want %v", got.Addresses, want.Addresses)
	}
	if got.TrustAnchor != want.TrustAnchor {
		fmt.Fprintf(&b, "\n\tTrustAnchor = %q, want %q", got.TrustAnchor, want.TrustAnchor)
	}
	timeDiff(&b, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	return b.String()
}

// timeDiff wants got to be the same instant as want and, unless both are
// zero, in UTC: the store gives back what it was given.
func timeDiff(b *strings.Builder, name string, got, want time.Time) {
	switch {
	case want.IsZero() && !got.IsZero():
		fmt.Fprintf(b, "\n\t%s = %v, want the zero time", name, got)
	case !got.Equal(want):
		fmt.Fprintf(b, "\n\t%s = %v, want %v", name, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	case !want.IsZero() && got.Location() != time.UTC:
		fmt.Fprintf(b, "\n\t%s = %v is in %v, want UTC", name, got, got.Location())
	}
}

// cancelled returns a context that has already ended.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
