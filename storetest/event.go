package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

func record(esn, platformID string, when time.Time, count int64, mode regcenter.Mode, version string) regcenter.BootstrapRecord {
	return regcenter.BootstrapRecord{ESN: esn, PlatformID: platformID, At: when, Count: count, Mode: mode, SoftwareVersion: version}
}

func mustRecord(t *testing.T, s regcenter.Store, recs ...regcenter.BootstrapRecord) {
	t.Helper()
	if err := s.RecordBootstraps(t.Context(), recs); err != nil {
		t.Fatalf("RecordBootstraps = %v", err)
	}
}

func mustEvents(t *testing.T, s regcenter.Store, platformID string, after int64, limit int) []regcenter.Event {
	t.Helper()
	evs, err := s.Events(t.Context(), platformID, after, limit)
	if err != nil {
		t.Fatalf("Events(%s, %d, %d) = %v", platformID, after, limit, err)
	}
	return evs
}

func testEvents(t *testing.T, s regcenter.Store) {
	mustClaim(t, s, "cmp-a", at(0), claim("A1", "S5735"), claim("A2", "S5735"))
	mustClaim(t, s, "cmp-b", at(0), claim("B1", "S5735"))

	if evs := mustEvents(t, s, "cmp-a", 0, 10); len(evs) != 0 {
		t.Fatalf("events before any bootstrap: %+v", evs)
	}
	mustRecord(t, s,
		record("A1", "cmp-a", at(time.Second), 2, regcenter.ModeTraditional, "V1"),
		record("B1", "cmp-b", at(time.Second), 1, regcenter.ModeCloud, "V9"),
		record("A2", "cmp-b", at(time.Second), 1, regcenter.ModeCloud, "V9"), // not B's: no event
	)
	mustRecord(t, s, record("A2", "cmp-a", at(2*time.Second), 1, regcenter.ModeCloud, "V2"))

	evs := mustEvents(t, s, "cmp-a", 0, 10)
	if len(evs) != 2 {
		t.Fatalf("cmp-a has %d events, want 2: %+v", len(evs), evs)
	}
	want := []regcenter.Event{
		{PlatformID: "cmp-a", ESN: "A1", Kind: regcenter.EventBootstrap, At: at(time.Second), Count: 2, Mode: regcenter.ModeTraditional, SoftwareVersion: "V1"},
		{PlatformID: "cmp-a", ESN: "A2", Kind: regcenter.EventBootstrap, At: at(2 * time.Second), Count: 1, Mode: regcenter.ModeCloud, SoftwareVersion: "V2"},
	}
	for i, w := range want {
		got := evs[i]
		w.Seq = got.Seq
		if !got.At.Equal(w.At) || got.At.Location() != time.UTC {
			t.Errorf("event %d At = %v, want %v in UTC", i, got.At, w.At)
		}
		got.At, w.At = time.Time{}, time.Time{}
		if got != w {
			t.Errorf("event %d = %+v, want %+v", i, got, w)
		}
	}
	if evs[0].Seq <= 0 || evs[1].Seq <= evs[0].Seq {
		t.Errorf("sequence numbers %d, %d must be positive and increase", evs[0].Seq, evs[1].Seq)
	}

	// Resuming from a cursor returns only what follows it; limit bounds.
	if rest := mustEvents(t, s, "cmp-a", evs[0].Seq, 10); len(rest) != 1 || rest[0].ESN != "A2" {
		t.Errorf("events after the first = %+v", rest)
	}
	if none := mustEvents(t, s, "cmp-a", evs[1].Seq, 10); len(none) != 0 {
		t.Errorf("events after the last = %+v", none)
	}
	if one := mustEvents(t, s, "cmp-a", 0, 1); len(one) != 1 || one[0].ESN != "A1" {
		t.Errorf("limit 1 = %+v", one)
	}
	// Another platform's events are never mixed in.
	if b := mustEvents(t, s, "cmp-b", 0, 10); len(b) != 1 || b[0].ESN != "B1" || b[0].PlatformID != "cmp-b" {
		t.Errorf("cmp-b events = %+v", b)
	}
}

func testPruneEvents(t *testing.T, s regcenter.Store) {
	mustClaim(t, s, "cmp-a", at(0), claim("A1", "S5735"))
	mustRecord(t, s, record("A1", "cmp-a", at(time.Second), 1, regcenter.ModeTraditional, ""))
	mustRecord(t, s, record("A1", "cmp-a", at(time.Hour), 1, regcenter.ModeCloud, ""))
	old := mustEvents(t, s, "cmp-a", 0, 10)

	n, err := s.PruneEvents(t.Context(), at(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PruneEvents = %d, %v; want 1 deleted", n, err)
	}
	left := mustEvents(t, s, "cmp-a", 0, 10)
	if len(left) != 1 || left[0].Seq != old[1].Seq {
		t.Fatalf("after pruning: %+v", left)
	}
	// A sequence number is never reused, so cursors stay meaningful.
	mustRecord(t, s, record("A1", "cmp-a", at(2*time.Hour), 1, regcenter.ModeCloud, ""))
	if newer := mustEvents(t, s, "cmp-a", old[1].Seq, 10); len(newer) != 1 || newer[0].Seq <= old[1].Seq {
		t.Fatalf("event after pruning: %+v", newer)
	}
}

// testEventsFollowedConcurrently has several writers record bootstraps at
// once, as several center replicas flush, while a follower reads from its
// cursor as GET /v1/events does. "Seq values increase in the order events
// become visible" means a follower that resumes after the last event it
// saw never misses one: an event that became visible after a larger Seq
// had been read would be skipped for good.
func testEventsFollowedConcurrently(t *testing.T, s regcenter.Store) {
	const (
		writers = 8
		batches = 40
	)
	ctx := t.Context()
	claims := make([]regcenter.DeviceClaim, writers)
	for g := range claims {
		claims[g] = claim(fmt.Sprintf("FOLLOW%02d", g), "S5735")
	}
	mustClaim(t, s, "cmp-a", at(0), claims...)

	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		written = make(chan struct{})
	)
	for g := range writers {
		wg.Go(func() {
			<-start
			for b := range batches {
				r := record(claims[g].ESN, "cmp-a", at(time.Duration(b)*time.Millisecond), 1, regcenter.ModeCloud, fmt.Sprintf("V%03d", b))
				if err := s.RecordBootstraps(ctx, []regcenter.BootstrapRecord{r}); err != nil {
					t.Errorf("RecordBootstraps from writer %d = %v", g, err)
					return
				}
			}
		})
	}

	// The follower reads until the writers are done and it has caught up.
	var (
		seen     []int64
		followed = make(chan struct{})
	)
	go func() {
		defer close(followed)
		var cursor int64
		for {
			finished := false
			select {
			case <-written:
				finished = true
			default:
			}
			evs, err := s.Events(ctx, "cmp-a", cursor, regcenter.MaxEventsPage)
			if err != nil {
				t.Errorf("Events(after %d) = %v", cursor, err)
				return
			}
			for _, e := range evs {
				seen = append(seen, e.Seq)
			}
			if len(evs) > 0 {
				cursor = evs[len(evs)-1].Seq
			} else if finished {
				return
			}
		}
	}()

	close(start)
	wg.Wait()
	close(written)
	<-followed
	if t.Failed() {
		return
	}

	var all []int64
	for after := int64(0); ; {
		evs := mustEvents(t, s, "cmp-a", after, regcenter.MaxEventsPage)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			all = append(all, e.Seq)
		}
		after = evs[len(evs)-1].Seq
	}
	if len(all) != writers*batches {
		t.Fatalf("%d events, want one per record (%d)", len(all), writers*batches)
	}
	if !slices.Equal(seen, all) {
		missed := 0
		for _, seq := range all {
			if !slices.Contains(seen, seq) {
				missed++
			}
		}
		t.Fatalf("the follower saw %d events, missing %d that became visible after a larger Seq had been read; want all %d", len(seen), missed, len(all))
	}
}
