package cmp_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmptest"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

// fakeCenter answers as a center would, for what a real one cannot be
// made to do: refuse an item the platform accepted, or ask to wait.
type fakeCenter struct {
	mu       sync.Mutex
	fail     []error // returned by the next calls of UploadDevices, in turn
	calls    []time.Time
	uploads  [][]string
	releases []string
	invalid  map[string]string // ESN → the center's detail
}

func (f *fakeCenter) PutPlatform(context.Context, []regcenter.Address, string) (regcenter.Platform, error) {
	return regcenter.Platform{}, nil
}

func (f *fakeCenter) UploadDevices(_ context.Context, items []regcenter.DeviceUpload) (regcenter.UploadReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return regcenter.UploadReport{}, err
	}
	var rep regcenter.UploadReport
	var esns []string
	for _, it := range items {
		esns = append(esns, it.ESN)
		r := regcenter.UploadResult{ESN: it.ESN, Result: regcenter.OutcomeCreated}
		if d, ok := f.invalid[it.ESN]; ok {
			r.Result, r.Detail = regcenter.OutcomeInvalid, d
		}
		rep.Results = append(rep.Results, r)
	}
	f.uploads = append(f.uploads, esns)
	return rep, nil
}

func (f *fakeCenter) ReleaseDevice(_ context.Context, esn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases = append(f.releases, esn)
	return regcenter.Errorf(regcenter.ErrNotFound, regcenter.CodeNotFound, "no such device")
}

func (f *fakeCenter) Events(ctx context.Context, after string, _ func(regcenter.Event) error) (string, error) {
	<-ctx.Done()
	return after, ctx.Err()
}

// TestSyncerHonoursRetryAfterAndRecordsRefusals: a center that is
// unavailable with Retry-After is asked again no sooner; an item it
// refuses ends invalid with its detail; a release of a claim the center
// never had is done.
func TestSyncerHonoursRetryAfterAndRecordsRefusals(t *testing.T) {
	svc, db, _ := newService(t)
	ctx := context.Background()
	if _, err := svc.Import(ctx, []cmp.ImportRow{{Line: 2, ESN: "SW-1", DeviceType: "S"}, {Line: 3, ESN: "SW-2", DeviceType: "S"}, {Line: 4, ESN: "SW-3", DeviceType: "S"}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, "SW-3"); err != nil {
		t.Fatal(err)
	}
	const wait = 300 * time.Millisecond
	center := &fakeCenter{
		fail:    []error{&regcenter.Error{Kind: regcenter.ErrUnavailable, Code: regcenter.CodeStoreUnavailable, RetryAfter: wait}},
		invalid: map[string]string{"SW-2": "the center refused this"},
	}
	s := cmp.NewSyncer(cmp.SyncConfig{
		Store: db, Center: center, Wake: svc.Queued(),
		Retry: backoff.Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond},
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	cmptest.Eventually(t, "the outbox to drain", func() bool {
		e, err := db.Outbox(ctx, 10)
		return err == nil && len(e) == 0
	})
	center.mu.Lock()
	calls, uploads, releases := center.calls, center.uploads, center.releases
	center.mu.Unlock()
	if len(calls) != 2 || calls[1].Sub(calls[0]) < wait {
		t.Errorf("upload attempts at %v: want 2, the second at least %v after the first", calls, wait)
	}
	if len(uploads) != 1 || !slices.Equal(uploads[0], []string{"SW-1", "SW-2"}) || !slices.Equal(releases, []string{"SW-3"}) {
		t.Errorf("uploads %v releases %v", uploads, releases)
	}
	d1, _ := svc.Device(ctx, "SW-1")
	d2, _ := svc.Device(ctx, "SW-2")
	if d1.State != cmpwire.StateClaimed || d2.State != cmpwire.StateInvalid || d2.Detail != "the center refused this" {
		t.Errorf("SW-1 %s; SW-2 %s %q", d1.State, d2.State, d2.Detail)
	}
	if st := s.Status(); st.Failures != 0 || st.Rounds < 1 || st.LastError != "" {
		t.Errorf("status %+v", st)
	}
}

func TestSyncerStopsWithItsContext(t *testing.T) {
	svc, db, _ := newService(t)
	if _, err := svc.Import(context.Background(), []cmp.ImportRow{{Line: 2, ESN: "SW-1", DeviceType: "S"}}); err != nil {
		t.Fatal(err)
	}
	center := &fakeCenter{fail: []error{errors.New("down")}}
	s := cmp.NewSyncer(cmp.SyncConfig{Store: db, Center: center, Retry: backoff.Policy{Initial: time.Hour, Max: time.Hour}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	cmptest.Eventually(t, "the first failure", func() bool { return s.Status().Failures == 1 })
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return while backing off")
	}
}
