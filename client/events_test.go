package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/centertest"
)

var errEnough = errors.New("enough")

// collect follows events until n arrived or the deadline passed.
func collect(t *testing.T, ctx context.Context, follow func(context.Context, string, func(regcenter.Event) error) (string, error), after string, n int) ([]regcenter.Event, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []regcenter.Event
	cursor, err := follow(ctx, after, func(e regcenter.Event) error {
		got = append(got, e)
		if len(got) == n {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("after %d of %d events the stream stopped: %v", len(got), n, err)
	}
	return got, cursor
}

func TestEventsStream(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	ctx := context.Background()
	platformA := p.Client(t, c, p.PlatformCert(t, "cmp-a"))
	platformB := p.Client(t, c, p.PlatformCert(t, "cmp-b"))
	if _, err := platformA.PutPlatform(ctx, []regcenter.Address{{Host: "cmp-a.example.net", Port: 10030}}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := platformB.PutPlatform(ctx, []regcenter.Address{{Host: "cmp-b.example.net", Port: 10030}}, ""); err != nil {
		t.Fatal(err)
	}
	platformA.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: "A1", DeviceType: "S"}, {ESN: "A2", DeviceType: "S"}})
	platformB.UploadDevices(ctx, []regcenter.DeviceUpload{{ESN: "B1", DeviceType: "S"}})

	ask := func(esn string, mode regcenter.Mode) {
		t.Helper()
		sw := p.Client(t, c, p.DeviceCert(t, esn))
		if _, err := sw.Bootstrap(ctx, regcenter.BootstrapRequest{ESN: esn, Mode: mode, SoftwareVersion: "V1"}); err != nil {
			t.Fatal(err)
		}
	}
	ask("A1", regcenter.ModeTraditional)
	ask("B1", regcenter.ModeTraditional)
	if err := c.Recorder.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// The stream is open before the next event exists: it arrives live.
	type result struct {
		events []regcenter.Event
		cursor string
	}
	live := make(chan result, 1)
	go func() {
		evs, cur := collect(t, ctx, platformA.Events, "", 2)
		live <- result{evs, cur}
	}()
	time.Sleep(100 * time.Millisecond)
	ask("A2", regcenter.ModeCloud)
	if err := c.Recorder.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-live
	if len(r.events) != 2 || r.events[0].ESN != "A1" || r.events[1].ESN != "A2" || r.events[1].Mode != regcenter.ModeCloud ||
		r.events[0].Kind != regcenter.EventBootstrap || r.events[0].Count != 1 || r.events[1].SoftwareVersion != "V1" {
		t.Fatalf("cmp-a's events = %+v", r.events)
	}
	if r.cursor != r.events[0].Cursor() {
		t.Errorf("cursor after the handler stopped at the second event = %q, want the first's %q", r.cursor, r.events[0].Cursor())
	}

	// Resuming from the second event's cursor gives only what follows.
	ask("A1", regcenter.ModeCloud)
	c.Recorder.Flush(ctx)
	evs, _ := collect(t, ctx, platformA.Events, r.events[1].Cursor(), 1)
	if evs[0].ESN != "A1" || evs[0].Mode != regcenter.ModeCloud {
		t.Errorf("resumed stream = %+v", evs)
	}

	// Another platform sees only its own.
	evs, _ = collect(t, ctx, platformB.Events, "", 1)
	if evs[0].ESN != "B1" {
		t.Errorf("cmp-b's first event = %+v", evs[0])
	}

	// Bad cursors are problems before the stream starts; devices may not follow.
	if _, err := platformA.Events(ctx, "x", func(regcenter.Event) error { return nil }); !errors.Is(err, regcenter.ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
	sw := p.Client(t, c, p.DeviceCert(t, "A1"))
	if _, err := sw.Events(ctx, "", func(regcenter.Event) error { return nil }); !errors.Is(err, regcenter.ErrForbidden) {
		t.Errorf("a device following events: %v", err)
	}
}

func TestEventsStreamEndsAtShutdown(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	platform := p.Client(t, c, p.PlatformCert(t, "cmp-a"))
	done := make(chan error, 1)
	go func() {
		_, err := platform.Events(context.Background(), "", func(regcenter.Event) error { return nil })
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the stream open
	start := time.Now()
	c.Stop()
	select {
	case <-done:
		// The drain's deadline is 5s: a stream that did not end by itself
		// would hold the shutdown until then.
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("shutdown waited %v for the stream", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived the center's shutdown")
	}
}
