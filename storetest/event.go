package storetest

import (
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
