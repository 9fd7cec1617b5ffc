package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

const (
	created   = regcenter.OutcomeCreated
	unchanged = regcenter.OutcomeUnchanged
	updated   = regcenter.OutcomeUpdated
	conflict  = regcenter.OutcomeConflict
)

func testClaimCreated(t *testing.T, s regcenter.Store) {
	plain := claim("21500102003SJ1234567", "S5735-L24T4S-A")
	override := claim("21500102003SJ7654321", "S5735-L48T4S-A",
		regcenter.Address{Host: "edge.example.net", Port: 10020},
		regcenter.Address{Host: "198.51.100.3", Port: 10020})

	wantOutcomes(t, mustClaim(t, s, "cmp-a", at(0), plain, override), created, created)
	for _, c := range []regcenter.DeviceClaim{plain, override} {
		wantDevice(t, mustDevice(t, s, "cmp-a", c.ESN), claimed("cmp-a", c, at(0)))
	}

	// The same claim again changes nothing, not even the claim time.
	wantOutcomes(t, mustClaim(t, s, "cmp-a", at(time.Minute), plain, override), unchanged, unchanged)
	for _, c := range []regcenter.DeviceClaim{plain, override} {
		wantDevice(t, mustDevice(t, s, "cmp-a", c.ESN), claimed("cmp-a", c, at(0)))
	}
}

func testClaimChanges(t *testing.T, s regcenter.Store) {
	a1 := regcenter.Address{Host: "a1.example.net", Port: 10020}
	a2 := regcenter.Address{Host: "203.0.113.2", Port: 10020}
	a1OtherPort := regcenter.Address{Host: a1.Host, Port: 10021}
	a1OtherHost := regcenter.Address{Host: "a1.example.org", Port: a1.Port}

	tests := []struct {
		name          string
		first, second regcenter.DeviceClaim // ESN filled in below
		want          regcenter.UploadOutcome
	}{
		{"same type, no override", claim("", "T1"), claim("", "T1"), unchanged},
		{"same type and override", claim("", "T1", a1, a2), claim("", "T1", a1, a2), unchanged},
		{"type changed", claim("", "T1"), claim("", "T2"), updated},
		{"type changed, override kept", claim("", "T1", a1), claim("", "T2", a1), updated},
		{"override added", claim("", "T1"), claim("", "T1", a1, a2), updated},
		{"override removed", claim("", "T1", a1, a2), claim("", "T1"), updated},
		{"override address appended", claim("", "T1", a1), claim("", "T1", a1, a2), updated},
		{"override address dropped", claim("", "T1", a1, a2), claim("", "T1", a1), updated},
		{"override reordered", claim("", "T1", a1, a2), claim("", "T1", a2, a1), updated},
		{"override port changed", claim("", "T1", a1), claim("", "T1", a1OtherPort), updated},
		{"override host changed", claim("", "T1", a1), claim("", "T1", a1OtherHost), updated},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			esn := fmt.Sprintf("CHANGE%03d", i)
			tc.first.ESN, tc.second.ESN = esn, esn
			wantOutcomes(t, mustClaim(t, s, "cmp-a", at(0), tc.first), created)
			wantOutcomes(t, mustClaim(t, s, "cmp-a", at(time.Minute), tc.second), tc.want)
			// The new values are stored; the claim keeps its first time.
			wantDevice(t, mustDevice(t, s, "cmp-a", esn), claimed("cmp-a", tc.second, at(0)))
		})
	}
}

func testClaimConflict(t *testing.T, s regcenter.Store) {
	const esn = "21500102003SJ0000001"
	held := claim(esn, "S5735-L24T4S-A", regcenter.Address{Host: "a.example.net", Port: 10020})
	wantOutcomes(t, mustClaim(t, s, "cmp-a", at(0), held), created)

	tests := []struct {
		name  string
		claim regcenter.DeviceClaim
	}{
		{"identical claim", held},
		{"different claim", claim(esn, "S6730-H24X6C", regcenter.Address{Host: "b.example.net", Port: 443})},
		{"claim without override", claim(esn, "S5735-L24T4S-A")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantOutcomes(t, mustClaim(t, s, "cmp-b", at(time.Minute), tc.claim), conflict)
			wantDevice(t, mustDevice(t, s, "cmp-a", esn), claimed("cmp-a", held, at(0)))
			wantDeviceNotFound(t, s, "cmp-b", esn)
			dev, _, err := s.BootstrapTarget(t.Context(), esn)
			if err != nil {
				t.Fatalf("BootstrapTarget(%s) = %v", esn, err)
			}
			wantDevice(t, dev, claimed("cmp-a", held, at(0)))
		})
	}
	devs, err := s.Devices(t.Context(), "cmp-b", "", 10)
	if err != nil || len(devs) != 0 {
		t.Fatalf("Devices(cmp-b) after conflicts = %v, %v; want none", devs, err)
	}
}

func testClaimMixedBatch(t *testing.T, s regcenter.Store) {
	held1, held2 := claim("HELD1", "T1"), claim("HELD2", "T1")
	other := claim("OTHER", "T1")
	wantOutcomes(t, mustClaim(t, s, "cmp-a", at(0), held1, held2), created, created)
	wantOutcomes(t, mustClaim(t, s, "cmp-b", at(0), other), created)

	new1, new2 := claim("NEW1", "T1"), claim("NEW2", "T3", regcenter.Address{Host: "n.example.net", Port: 1})
	held2Changed := claim("HELD2", "T2")
	otherByA := claim("OTHER", "T9")
	got := mustClaim(t, s, "cmp-a", at(time.Minute), new1, otherByA, held1, new2, held2Changed)
	wantOutcomes(t, got, created, conflict, unchanged, created, updated)

	wantDevice(t, mustDevice(t, s, "cmp-a", "NEW1"), claimed("cmp-a", new1, at(time.Minute)))
	wantDevice(t, mustDevice(t, s, "cmp-a", "NEW2"), claimed("cmp-a", new2, at(time.Minute)))
	wantDevice(t, mustDevice(t, s, "cmp-a", "HELD1"), claimed("cmp-a", held1, at(0)))
	wantDevice(t, mustDevice(t, s, "cmp-a", "HELD2"), claimed("cmp-a", held2Changed, at(0)))
	wantDevice(t, mustDevice(t, s, "cmp-b", "OTHER"), claimed("cmp-b", other, at(0)))
	wantDeviceNotFound(t, s, "cmp-a", "OTHER")
}

// testClaimLargeBatch uploads the most the API allows in one call, in an
// order unrelated to ESN order.
func testClaimLargeBatch(t *testing.T, s regcenter.Store) {
	n := regcenter.MaxUploadDevices
	rng := rand.New(rand.NewPCG(1, 2))
	claims := make([]regcenter.DeviceClaim, n)
	for i := range claims {
		claims[i] = claim(fmt.Sprintf("BULK%06d", i), "S5735-L24T4S-A")
		if i%10 == 0 {
			claims[i].Addresses = []regcenter.Address{{Host: fmt.Sprintf("d%d.example.net", i), Port: 10020}}
		}
	}
	rng.Shuffle(n, func(i, j int) { claims[i], claims[j] = claims[j], claims[i] })

	out := mustClaim(t, s, "cmp-a", at(0), claims...)
	for i, o := range out {
		if o != created {
			t.Fatalf("outcome %d (%s) = %s, want created", i, claims[i].ESN, o)
		}
	}

	want := make(map[string]regcenter.Device, n)
	for _, c := range claims {
		want[c.ESN] = claimed("cmp-a", c, at(0))
	}
	listed := listAll(t, s, "cmp-a", regcenter.MaxPageSize)
	if len(listed) != n {
		t.Fatalf("listed %d devices, want %d", len(listed), n)
	}
	for _, d := range listed {
		wantDevice(t, d, want[d.ESN])
	}

	// The same upload again, in another order: nothing changes.
	rng.Shuffle(n, func(i, j int) { claims[i], claims[j] = claims[j], claims[i] })
	for i, o := range mustClaim(t, s, "cmp-a", at(time.Minute), claims...) {
		if o != unchanged {
			t.Fatalf("re-upload outcome %d (%s) = %s, want unchanged", i, claims[i].ESN, o)
		}
	}

	// A third upload changes every seventh device.
	for i := range claims {
		if i%7 == 0 {
			claims[i].DeviceType = "S5735-L48T4S-A"
		}
	}
	for i, o := range mustClaim(t, s, "cmp-a", at(2*time.Minute), claims...) {
		w := unchanged
		if i%7 == 0 {
			w = updated
		}
		if o != w {
			t.Fatalf("third upload outcome %d (%s) = %s, want %s", i, claims[i].ESN, o, w)
		}
	}
	for i := 0; i < n; i += 7 * 97 {
		wantDevice(t, mustDevice(t, s, "cmp-a", claims[i].ESN), claimed("cmp-a", claims[i], at(0)))
	}
}

// listAll pages through a platform's devices as the Service does, checking
// that every page is in ESN order and continues after the previous one.
func listAll(t *testing.T, s regcenter.Store, platformID string, pageSize int) []regcenter.Device {
	t.Helper()
	var all []regcenter.Device
	after := ""
	for {
		page, err := s.Devices(t.Context(), platformID, after, pageSize)
		if err != nil {
			t.Fatalf("Devices(%s, after %q, %d) = %v", platformID, after, pageSize, err)
		}
		if len(page) > pageSize {
			t.Fatalf("Devices(%s, after %q, %d) returned %d devices", platformID, after, pageSize, len(page))
		}
		for _, d := range page {
			if d.ESN <= after {
				t.Fatalf("Devices(%s, after %q): %s is out of order", platformID, after, d.ESN)
			}
			after = d.ESN
		}
		all = append(all, page...)
		if len(page) < pageSize {
			return all
		}
	}
}

func testClaimCancelled(t *testing.T, s regcenter.Store) {
	claims := []regcenter.DeviceClaim{claim("CANCEL1", "T1"), claim("CANCEL2", "T1")}
	if _, err := s.ClaimDevices(cancelled(t), "cmp-a", claims, at(0)); err == nil {
		t.Fatal("ClaimDevices with a cancelled context succeeded, want an error")
	}
	for _, c := range claims {
		wantDeviceNotFound(t, s, "cmp-a", c.ESN)
	}
}

// testClaimConcurrentSameESN races two platforms for one ESN: exactly one
// wins, and the other is told conflict every time, whatever the timing.
func testClaimConcurrentSameESN(t *testing.T, s regcenter.Store) {
	const (
		esn        = "RACE0001"
		goroutines = 8 // per platform
		rounds     = 5
	)
	platforms := []string{"cmp-a", "cmp-b"}
	var (
		mu       sync.Mutex
		outcomes = map[string][]regcenter.UploadOutcome{}
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for _, p := range platforms {
		for range goroutines {
			wg.Go(func() {
				<-start
				for r := range rounds {
					out, err := s.ClaimDevices(t.Context(), p, []regcenter.DeviceClaim{claim(esn, "T-"+p)}, at(time.Duration(r)*time.Second))
					if err != nil {
						t.Errorf("ClaimDevices(%s) = %v", p, err)
						return
					}
					if len(out) != 1 {
						t.Errorf("ClaimDevices(%s) returned %d outcomes for 1 claim", p, len(out))
						return
					}
					mu.Lock()
					outcomes[p] = append(outcomes[p], out[0])
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}

	var winners []string
	for _, p := range platforms {
		if n := count(outcomes[p], created); n > 0 {
			winners = append(winners, fmt.Sprintf("%s (%d)", p, n))
		}
	}
	if len(winners) != 1 {
		t.Fatalf("platforms told created: %v, want exactly one platform, once", winners)
	}
	winner, loser := platforms[0], platforms[1]
	if count(outcomes[winner], created) == 0 {
		winner, loser = loser, winner
	}
	if n := count(outcomes[winner], created); n != 1 {
		t.Fatalf("%s was told created %d times, want once", winner, n)
	}
	if n := count(outcomes[winner], unchanged); n != goroutines*rounds-1 {
		t.Errorf("%s: outcomes %v, want created once and unchanged otherwise", winner, outcomes[winner])
	}
	if n := count(outcomes[loser], conflict); n != goroutines*rounds {
		t.Errorf("%s: outcomes %v, want conflict every time", loser, outcomes[loser])
	}
	if d := mustDevice(t, s, winner, esn); d.PlatformID != winner || d.DeviceType != "T-"+winner {
		t.Errorf("Device(%s, %s) = %+v, want the winner's claim", winner, esn, d)
	}
	wantDeviceNotFound(t, s, loser, esn)
}

// testClaimConcurrentOverlapping has two platforms upload the same ESNs at
// once, in opposite orders (the classic lock-order deadlock): both uploads
// succeed, and each ESN goes to exactly one of them.
func testClaimConcurrentOverlapping(t *testing.T, s regcenter.Store) {
	const n = 300
	ctx := t.Context()
	for round := range 3 {
		esns := make([]string, n)
		asc := make([]regcenter.DeviceClaim, n)
		desc := make([]regcenter.DeviceClaim, n)
		for i := range esns {
			esns[i] = fmt.Sprintf("OVERLAP%d-%04d", round, i)
			asc[i] = claim(esns[i], "T-a")
			desc[n-1-i] = claim(esns[i], "T-b")
		}

		var (
			wg         sync.WaitGroup
			outA, outB []regcenter.UploadOutcome
			errA, errB error
			start      = make(chan struct{})
			now        = at(time.Duration(round) * time.Second)
		)
		wg.Go(func() { <-start; outA, errA = s.ClaimDevices(ctx, "cmp-a", asc, now) })
		wg.Go(func() { <-start; outB, errB = s.ClaimDevices(ctx, "cmp-b", desc, now) })
		close(start)
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("round %d: overlapping uploads: cmp-a: %v, cmp-b: %v; want both to succeed", round, errA, errB)
		}
		if len(outA) != n || len(outB) != n {
			t.Fatalf("round %d: %d and %d outcomes, want %d each", round, len(outA), len(outB), n)
		}

		for i, esn := range esns {
			a, b := outA[i], outB[n-1-i]
			var holder string
			switch {
			case a == created && b == conflict:
				holder = "cmp-a"
			case a == conflict && b == created:
				holder = "cmp-b"
			default:
				t.Fatalf("round %d: %s: cmp-a told %s, cmp-b told %s; want one created and the other conflict", round, esn, a, b)
			}
			dev, _, err := s.BootstrapTarget(ctx, esn)
			if err != nil {
				t.Fatalf("BootstrapTarget(%s) = %v", esn, err)
			}
			if dev.PlatformID != holder {
				t.Fatalf("round %d: %s is held by %s, but %s was told created", round, esn, dev.PlatformID, holder)
			}
		}
	}
}

func count(outcomes []regcenter.UploadOutcome, o regcenter.UploadOutcome) int {
	n := 0
	for _, x := range outcomes {
		if x == o {
			n++
		}
	}
	return n
}
