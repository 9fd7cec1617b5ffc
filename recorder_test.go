package regcenter_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
)

// failingStore lets a test make the store refuse bootstrap records, as a
// database that went away would.
type failingStore struct {
	regcenter.Store
	fail atomic.Bool
}

var errStoreDown = errors.New("store down")

func (s *failingStore) RecordBootstraps(ctx context.Context, recs []regcenter.BootstrapRecord) error {
	if s.fail.Load() {
		return errStoreDown
	}
	return s.Store.RecordBootstraps(ctx, recs)
}

func TestRecorderKeepsRecordsAcrossAFailedFlush(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, platformA, regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S"}, regcenter.DeviceUpload{ESN: "ESN-2", DeviceType: "S"})
	store := &failingStore{Store: f.store}
	rec := regcenter.NewBootstrapRecorder(store, regcenter.RecorderConfig{MaxPending: 1})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	rec.Record(regcenter.BootstrapRecord{ESN: "ESN-1", PlatformID: platformA.ID, At: t0.Add(time.Second), Count: 1, Mode: regcenter.ModeCloud, SoftwareVersion: "new"})
	rec.Record(regcenter.BootstrapRecord{ESN: "ESN-1", PlatformID: platformA.ID, At: t0, Count: 1, Mode: regcenter.ModeTraditional, SoftwareVersion: "old"})
	rec.Record(regcenter.BootstrapRecord{ESN: "ESN-2", PlatformID: platformA.ID, At: t0, Count: 1}) // over MaxPending
	if rec.Dropped() != 1 {
		t.Errorf("Dropped = %d, want 1", rec.Dropped())
	}

	store.fail.Store(true)
	if err := rec.Flush(ctx); !errors.Is(err, errStoreDown) {
		t.Fatalf("flush on a failing store = %v", err)
	}
	store.fail.Store(false)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := f.store.Device(ctx, platformA.ID, "ESN-1")
	if err != nil {
		t.Fatal(err)
	}
	// Both observations survive the failed flush; the newest one's values win
	// although it was recorded first.
	if d.BootstrapCount != 2 || d.LastSoftwareVersion != "new" || d.LastMode != regcenter.ModeCloud || !d.LastBootstrapAt.Equal(t0.Add(time.Second)) {
		t.Errorf("device after retry = %+v", d)
	}
}

func TestRecorderRunFlushesOnStop(t *testing.T) {
	f := newFixture(t)
	f.upload(t, platformA, regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S"})
	rec := regcenter.NewBootstrapRecorder(f.store, regcenter.RecorderConfig{FlushInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()

	rec.Record(regcenter.BootstrapRecord{ESN: "ESN-1", PlatformID: platformA.ID, At: time.Now().UTC(), Count: 3})
	cancel()
	<-done
	d, _ := f.store.Device(context.Background(), platformA.ID, "ESN-1")
	if d.BootstrapCount != 3 {
		t.Errorf("after Run stopped, count = %d, want 3", d.BootstrapCount)
	}
}

// blockingStore holds RecordBootstraps until released, as a slow disk
// would, so that a test can call Flush while another flush is writing.
type blockingStore struct {
	regcenter.Store
	entered, release chan struct{}
}

func (s *blockingStore) RecordBootstraps(ctx context.Context, recs []regcenter.BootstrapRecord) error {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.RecordBootstraps(ctx, recs)
}

func TestFlushWaitsForAFlushInProgress(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.upload(t, platformA, regcenter.DeviceUpload{ESN: "ESN-1", DeviceType: "S"})
	store := &blockingStore{Store: f.store, entered: make(chan struct{}, 2), release: make(chan struct{})}
	rec := regcenter.NewBootstrapRecorder(store, regcenter.RecorderConfig{})
	rec.Record(regcenter.BootstrapRecord{ESN: "ESN-1", PlatformID: platformA.ID, At: time.Now().UTC(), Count: 1})

	first := make(chan error, 1)
	go func() { first <- rec.Flush(ctx) }()
	<-store.entered // the first flush took the record and is writing it

	second := make(chan error, 1)
	go func() { second <- rec.Flush(ctx) }()
	select {
	case <-second:
		t.Fatal("Flush returned while the record it follows was still being written")
	case <-time.After(50 * time.Millisecond):
	}
	close(store.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if d, _ := f.store.Device(ctx, platformA.ID, "ESN-1"); d.BootstrapCount != 1 {
		t.Errorf("after both flushes the count is %d", d.BootstrapCount)
	}
}
