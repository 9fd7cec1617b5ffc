package loadgen

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// IdleConfig is switches that keep a connection open and say nothing:
// Conns HTTP/2 connections, each opened with one bootstrap request (so
// that the server has set up all it keeps for a connection in use), then
// left idle.
type IdleConfig struct {
	Devices     []Device // connection k is Devices[k % len(Devices)]'s
	Conns       int
	Concurrency int // connections being opened at once (default 32)
	// Settle is how long every connection stays open and idle before the
	// server's memory is read (default 2s): long enough for what the
	// server frees after a request to be freed.
	Settle time.Duration
}

// Idle runs the idle scenario: the server's resident memory before the
// first connection and after the last one settled gives MemoryPerConn.
// Each operation is the opening of one connection.
func Idle(ctx context.Context, t Target, cfg IdleConfig) (Result, error) {
	res := Result{Scenario: "idle", Target: t.Name, Unit: "connection"}
	if err := t.check(); err != nil {
		return res, err
	}
	if cfg.Conns <= 0 {
		return res, errors.New("loadgen: idle: give a number of connections")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	sw, err := switches(cfg.Devices)
	if err != nil {
		return res, err
	}
	// One descriptor per connection, and some for everything else.
	if err := RaiseFileLimit(uint64(cfg.Conns) + 256); err != nil {
		return res, err
	}
	url := t.base() + "/v1/bootstrap"
	var dials atomic.Int64

	// A first connection, outside the window, so that the server's code
	// for TLS and HTTP/2 is in memory before "before" is read: that cost
	// is paid once, not per connection.
	first := t.transport(sw[0].Certificate, &dials)
	err = post(ctx, first, url, sw[0].body, nil)
	first.CloseIdleConnections()
	if err != nil {
		return res, err
	}
	dials.Store(0)

	held := make([]*http.Transport, cfg.Conns)
	defer func() {
		for _, tr := range held {
			if tr != nil {
				tr.CloseIdleConnections()
			}
		}
	}()
	err = measure(t, &res, func() {
		Load{Requests: cfg.Conns, Concurrency: cfg.Concurrency}.run(ctx, func(ctx context.Context, _, i int) error {
			s := sw[i%len(sw)]
			tr := t.transport(s.Certificate, &dials)
			if err := post(ctx, tr, url, s.body, nil); err != nil {
				tr.CloseIdleConnections()
				return err
			}
			held[i] = tr
			return nil
		}).into(&res)
		select {
		case <-time.After(cfg.Settle):
		case <-ctx.Done():
		}
	})
	res.Conns = int(dials.Load())
	return res, err
}
