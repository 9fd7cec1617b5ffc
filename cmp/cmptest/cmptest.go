// Package cmptest is what the platform's tests share: the conformance
// suite of cmp.Store, which every backend runs unchanged (as the center's
// stores run storetest), a settable clock, and polling with a deadline.
// It is imported only by tests.
package cmptest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

// NewDB makes a new, empty database for one test and returns a function
// that opens it; opening it again after Close must give the same data.
type NewDB func(t *testing.T) (open func() cmp.Store)

// Run runs the suite.
func Run(t *testing.T, newDB NewDB) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, func() cmp.Store)
	}{
		{"ImportOutcomes", testImportOutcomes},
		{"ImportQueuesClaims", testImportQueuesClaims},
		{"Acknowledge", testAcknowledge},
		{"AcknowledgeReplacedEntry", testAcknowledgeReplacedEntry},
		{"Delete", testDelete},
		{"RegisterAndHeartbeat", testRegisterAndHeartbeat},
		{"Events", testEvents},
		{"Durable", testDurable},
		{"LargeImport", testLargeImport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := newDB(t)
			tc.fn(t, open)
		})
	}
}

var t0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func openStore(t *testing.T, open func() cmp.Store) cmp.Store {
	t.Helper()
	s := open()
	t.Cleanup(func() { s.Close() })
	return s
}

func importItems(t *testing.T, s cmp.Store, at time.Time, items ...cmp.ImportItem) []regcenter.UploadOutcome {
	t.Helper()
	out, err := s.ImportDevices(context.Background(), items, at)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func device(t *testing.T, s cmp.Store, esn string) cmp.Device {
	t.Helper()
	d, err := s.Device(context.Background(), esn)
	if err != nil {
		t.Fatalf("Device(%s): %v", esn, err)
	}
	return d
}

func outbox(t *testing.T, s cmp.Store) []cmp.OutboxEntry {
	t.Helper()
	e, err := s.Outbox(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// summary is an outbox in a form that compares: "ESN op type".
func summary(entries []cmp.OutboxEntry) []string {
	var s []string
	for _, e := range entries {
		s = append(s, e.ESN+" "+string(e.Op)+" "+e.DeviceType)
	}
	return s
}

func acknowledge(t *testing.T, s cmp.Store, at time.Time, acks ...cmp.Ack) {
	t.Helper()
	if err := s.Acknowledge(context.Background(), acks, at); err != nil {
		t.Fatal(err)
	}
}

func testImportOutcomes(t *testing.T, open func() cmp.Store) {
	s := openStore(t, open)
	got := importItems(t, s, t0, cmp.ImportItem{ESN: "B1", DeviceType: "S5735"}, cmp.ImportItem{ESN: "A1", DeviceType: "S5735"})
	if !slices.Equal(got, []regcenter.UploadOutcome{regcenter.OutcomeCreated, regcenter.OutcomeCreated}) {
		t.Errorf("first import: %v", got)
	}
	got = importItems(t, s, t0.Add(time.Hour),
		cmp.ImportItem{ESN: "A1", DeviceType: "S5735"}, cmp.ImportItem{ESN: "B1", DeviceType: "S6730"}, cmp.ImportItem{ESN: "C1", DeviceType: "S5735"})
	if !slices.Equal(got, []regcenter.UploadOutcome{regcenter.OutcomeUnchanged, regcenter.OutcomeUpdated, regcenter.OutcomeCreated}) {
		t.Errorf("second import: %v", got)
	}
	devs, err := s.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var esns []string
	for _, d := range devs {
		esns = append(esns, d.ESN)
	}
	if !slices.Equal(esns, []string{"A1", "B1", "C1"}) {
		t.Errorf("Devices in order %v, want A1 B1 C1", esns)
	}
	b := device(t, s, "B1")
	if b.DeviceType != "S6730" || b.CenterState != cmpwire.StateImported || !b.ImportedAt.Equal(t0) || !b.ClaimedAt.IsZero() || b.State != "" {
		t.Errorf("B1 = %+v", b)
	}
	if _, err := s.Device(context.Background(), "NOPE"); !errors.Is(err, regcenter.ErrNotFound) {
		t.Errorf("Device(NOPE): %v, want ErrNotFound", err)
	}
}

func testImportQueuesClaims(t *testing.T, open func() cmp.Store) {
	s := openStore(t, open)
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "S"}, cmp.ImportItem{ESN: "A2", DeviceType: "S"}, cmp.ImportItem{ESN: "A3", DeviceType: "S"})
	entries := outbox(t, s)
	if want := []string{"A1 claim S", "A2 claim S", "A3 claim S"}; !slices.Equal(summary(entries), want) {
		t.Fatalf("outbox %v, want %v", summary(entries), want)
	}
	if !entries[0].QueuedAt.Equal(t0) || entries[0].Seq >= entries[1].Seq {
		t.Errorf("entries %+v", entries)
	}
	if page, err := s.Outbox(context.Background(), 2); err != nil || len(page) != 2 || page[0].ESN != "A1" {
		t.Errorf("Outbox(limit 2) = %v, %v", summary(page), err)
	}
	acknowledge(t, s, t0,
		cmp.Ack{Seq: entries[0].Seq, ESN: "A1", State: cmpwire.StateClaimed},
		cmp.Ack{Seq: entries[1].Seq, ESN: "A2", State: cmpwire.StateConflict, Detail: "another platform holds this ESN"},
		cmp.Ack{Seq: entries[2].Seq, ESN: "A3", State: cmpwire.StateInvalid, Detail: "bad"})

	// Importing them again: a claimed device stays put; refused ones are
	// tried again; a changed type is claimed again.
	importItems(t, s, t0.Add(time.Hour), cmp.ImportItem{ESN: "A1", DeviceType: "S"}, cmp.ImportItem{ESN: "A2", DeviceType: "S"}, cmp.ImportItem{ESN: "A3", DeviceType: "S"})
	if want := []string{"A2 claim S", "A3 claim S"}; !slices.Equal(summary(outbox(t, s)), want) {
		t.Errorf("outbox after re-import %v, want %v", summary(outbox(t, s)), want)
	}
	if d := device(t, s, "A2"); d.CenterState != cmpwire.StateImported || d.Detail != "" {
		t.Errorf("A2 after re-import = %+v", d)
	}
	importItems(t, s, t0.Add(2*time.Hour), cmp.ImportItem{ESN: "A1", DeviceType: "T"})
	if want := []string{"A2 claim S", "A3 claim S", "A1 claim T"}; !slices.Equal(summary(outbox(t, s)), want) {
		t.Errorf("outbox after a type change %v, want %v", summary(outbox(t, s)), want)
	}
	if d := device(t, s, "A1"); d.CenterState != cmpwire.StateImported || !d.ClaimedAt.IsZero() {
		t.Errorf("A1 after a type change = %+v", d)
	}
}

func testAcknowledge(t *testing.T, s0 func() cmp.Store) {
	s := openStore(t, s0)
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "S"}, cmp.ImportItem{ESN: "A2", DeviceType: "S"})
	entries := outbox(t, s)
	claimedAt := t0.Add(time.Minute)
	acknowledge(t, s, claimedAt,
		cmp.Ack{Seq: entries[0].Seq, ESN: "A1", State: cmpwire.StateClaimed},
		cmp.Ack{Seq: entries[1].Seq, ESN: "A2", State: cmpwire.StateConflict, Detail: "another platform holds this ESN"})
	if got := outbox(t, s); len(got) != 0 {
		t.Errorf("outbox after the acks %v", summary(got))
	}
	a1, a2 := device(t, s, "A1"), device(t, s, "A2")
	if a1.CenterState != cmpwire.StateClaimed || !a1.ClaimedAt.Equal(claimedAt) || a1.Detail != "" {
		t.Errorf("A1 = %+v", a1)
	}
	if a2.CenterState != cmpwire.StateConflict || a2.Detail != "another platform holds this ESN" || !a2.ClaimedAt.IsZero() {
		t.Errorf("A2 = %+v", a2)
	}
	// An ack of an entry no longer there (acknowledged twice) changes nothing.
	acknowledge(t, s, claimedAt.Add(time.Hour), cmp.Ack{Seq: entries[1].Seq, ESN: "A2", State: cmpwire.StateClaimed})
	if d := device(t, s, "A2"); d.CenterState != cmpwire.StateConflict {
		t.Errorf("a second ack changed A2: %+v", d)
	}
}

func testAcknowledgeReplacedEntry(t *testing.T, open func() cmp.Store) {
	s := openStore(t, open)
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "S"})
	old := outbox(t, s)[0]
	// While the claim is on its way, the type changes: the center's answer
	// to the old claim must not remove the new one.
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "T"})
	acknowledge(t, s, t0, cmp.Ack{Seq: old.Seq, ESN: "A1", State: cmpwire.StateClaimed})
	if want := []string{"A1 claim T"}; !slices.Equal(summary(outbox(t, s)), want) {
		t.Errorf("outbox %v, want %v", summary(outbox(t, s)), want)
	}
	if d := device(t, s, "A1"); d.CenterState != cmpwire.StateImported {
		t.Errorf("A1 = %+v, want still imported", d)
	}
}

func testDelete(t *testing.T, open func() cmp.Store) {
	s := openStore(t, open)
	ctx := context.Background()
	if err := s.DeleteDevice(ctx, "A1", t0); !errors.Is(err, regcenter.ErrNotFound) {
		t.Errorf("deleting a device never imported: %v, want ErrNotFound", err)
	}
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "S"}, cmp.ImportItem{ESN: "A2", DeviceType: "S"})
	if err := s.DeleteDevice(ctx, "A1", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Device(ctx, "A1"); !errors.Is(err, regcenter.ErrNotFound) {
		t.Errorf("A1 after delete: %v", err)
	}
	// The release replaces the claim that never went out, and comes after
	// what was queued before it.
	entries := outbox(t, s)
	if want := []string{"A2 claim S", "A1 release "}; !slices.Equal(summary(entries), want) {
		t.Errorf("outbox %v, want %v", summary(entries), want)
	}
	importItems(t, s, t0.Add(time.Minute), cmp.ImportItem{ESN: "A1", DeviceType: "S"})
	if want := []string{"A2 claim S", "A1 claim S"}; !slices.Equal(summary(outbox(t, s)), want) {
		t.Errorf("outbox after importing A1 again %v, want %v", summary(outbox(t, s)), want)
	}
	if d := device(t, s, "A1"); !d.ImportedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("A1 imported again at %v", d.ImportedAt)
	}
	rel := entries[1]
	acknowledge(t, s, t0, cmp.Ack{Seq: rel.Seq, ESN: "A1"})
	if len(outbox(t, s)) != 2 {
		t.Errorf("acking the replaced release removed the new claim: %v", summary(outbox(t, s)))
	}
}

func testRegisterAndHeartbeat(t *testing.T, open func() cmp.Store) {
	s := openStore(t, open)
	ctx := context.Background()
	reg := cmp.Registration{ESN: "A1", DeviceType: "S", SoftwareVersion: "V200R022", RemoteAddr: "127.0.0.1:40000", At: t0}
	if err := s.Register(ctx, reg); !errors.Is(err, regcenter.ErrNotFound) {
		t.Errorf("registering a device never imported: %v, want ErrNotFound", err)
	}
	if err := s.Heartbeat(ctx, "A1", t0); !errors.Is(err, regcenter.ErrNotFound) {
		t.Errorf("heartbeat of a device never imported: %v, want ErrNotFound", err)
	}
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "S"})
	if err := s.Heartbeat(ctx, "A1", t0); !errors.Is(err, regcenter.ErrConflict) {
		t.Errorf("heartbeat before registering: %v, want ErrConflict", err)
	}
	if err := s.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, "A1", t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	d := device(t, s, "A1")
	if !d.RegisteredAt.Equal(t0) || d.RemoteAddr != reg.RemoteAddr || d.SoftwareVersion != "V200R022" || !d.LastHeartbeatAt.Equal(t0.Add(30*time.Second)) {
		t.Errorf("A1 = %+v", d)
	}
	// A registration again (the switch restarted) starts afresh.
	reg.At, reg.RemoteAddr = t0.Add(time.Hour), "127.0.0.1:40001"
	if err := s.Register(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if d := device(t, s, "A1"); !d.RegisteredAt.Equal(reg.At) || d.RemoteAddr != "127.0.0.1:40001" || !d.LastHeartbeatAt.IsZero() {
		t.Errorf("A1 after registering again = %+v", d)
	}
}

func testEvents(t *testing.T, open func() cmp.Store) {
	s := openStore(t, open)
	ctx := context.Background()
	if c, err := s.EventCursor(ctx); err != nil || c != "" {
		t.Errorf("cursor of a new store = %q, %v", c, err)
	}
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "S"})
	for i, e := range []regcenter.Event{
		{Seq: 4, ESN: "A1", At: t0.Add(2 * time.Minute), Count: 2},
		{Seq: 9, ESN: "GONE", At: t0.Add(3 * time.Minute), Count: 1},
		{Seq: 12, ESN: "A1", At: t0.Add(time.Minute), Count: 1}, // older: counts, but the time stays
	} {
		if err := s.ApplyEvent(ctx, e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if c, err := s.EventCursor(ctx); err != nil || c != e.Cursor() {
			t.Errorf("cursor after event %d = %q, %v; want %q", i, c, err, e.Cursor())
		}
	}
	if d := device(t, s, "A1"); d.CenterQueries != 3 || !d.LastCenterQuery.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("A1 = %d queries, last %v; want 3 and %v", d.CenterQueries, d.LastCenterQuery, t0.Add(2*time.Minute))
	}
}

func testDurable(t *testing.T, open func() cmp.Store) {
	s := open()
	ctx := context.Background()
	importItems(t, s, t0, cmp.ImportItem{ESN: "A1", DeviceType: "S"}, cmp.ImportItem{ESN: "A2", DeviceType: "S"})
	if err := s.DeleteDevice(ctx, "A2", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyEvent(ctx, regcenter.Event{Seq: 7, ESN: "A1", At: t0, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, open)
	if want := []string{"A1 claim S", "A2 release "}; !slices.Equal(summary(outbox(t, s)), want) {
		t.Errorf("outbox after reopening %v, want %v", summary(outbox(t, s)), want)
	}
	if c, _ := s.EventCursor(ctx); c != "7" {
		t.Errorf("cursor after reopening %q, want 7", c)
	}
	if d := device(t, s, "A1"); d.CenterQueries != 1 {
		t.Errorf("A1 after reopening = %+v", d)
	}
}

func testLargeImport(t *testing.T, open func() cmp.Store) {
	s := openStore(t, open)
	items := make([]cmp.ImportItem, regcenter.MaxUploadDevices+5)
	for i := range items {
		items[i] = cmp.ImportItem{ESN: "L" + strconv.Itoa(100000+i), DeviceType: "S"}
	}
	importItems(t, s, t0, items...)
	first, err := s.Outbox(context.Background(), regcenter.MaxUploadDevices)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != regcenter.MaxUploadDevices || first[0].ESN != "L100000" {
		t.Fatalf("first batch: %d entries starting %v", len(first), first[0])
	}
	acks := make([]cmp.Ack, len(first))
	for i, e := range first {
		acks[i] = cmp.Ack{Seq: e.Seq, ESN: e.ESN, State: cmpwire.StateClaimed}
	}
	acknowledge(t, s, t0, acks...)
	if rest := outbox(t, s); len(rest) != 5 || rest[0].ESN != "L"+strconv.Itoa(100000+regcenter.MaxUploadDevices) {
		t.Errorf("after the first batch: %v", summary(rest))
	}
}

// Clock is a settable clock for a platform's Now, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads now until advanced.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Eventually polls ok every few milliseconds until it holds, and fails
// the test when it does not within 10 seconds.
func Eventually(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
