// Package center assembles a running registration query center from its
// parts: the Service over a store, the bootstrap recorder, the API server
// with mutual TLS, the operations server, and their background work. The
// command (regcenter serve), the demo, the load generator and the tests of
// every party start a center through Start, so that it is wired in exactly
// one place. It does not open or close the store: its owner does.
package center

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/httpapi"
	"github.com/regcenter/regcenter/prometheus"
)

// Config describes a center. Store, TLS and Identify are required.
type Config struct {
	Listen    string // API address, e.g. ":10020" or "127.0.0.1:0"
	OpsListen string // operations address, e.g. "127.0.0.1:9020"

	Store    regcenter.Store
	TLS      *tls.Config                                            // the API's server configuration (mtls.Authority.ServerConfig)
	Identify func(*tls.ConnectionState) (regcenter.Identity, error) // the caller from the verified chain

	HTTP2Only            bool
	NotClaimedRetryAfter time.Duration // default 60s
	FlushInterval        time.Duration // bootstrap statistics; default 1s
	EventPoll            time.Duration // events streams; default 1s
	EventRetention       time.Duration // default 7 days

	// Profiling serves the runtime's profiles on the operations listener.
	Profiling bool

	Logger *slog.Logger // default discards
	// Wrap, when set, wraps the API handler (tests use it to see every
	// request as the server saw it).
	Wrap func(http.Handler) http.Handler
}

// Center is a running center.
type Center struct {
	APIAddr, OpsAddr string
	Recorder         *regcenter.BootstrapRecorder
	Metrics          *prometheus.Metrics

	api, ops       *httpapi.Server
	log            *slog.Logger
	shutdown       chan struct{}
	stopBackground context.CancelFunc
	background     sync.WaitGroup
	serveErr       chan error
	stopOnce       sync.Once
	stopErr        error
}

// Start binds both listeners (synchronously: a bad address fails here) and
// serves in the background until Shutdown.
func Start(cfg Config) (*Center, error) {
	if cfg.Store == nil || cfg.TLS == nil || cfg.Identify == nil {
		return nil, errors.New("center: Store, TLS and Identify are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EventRetention <= 0 {
		cfg.EventRetention = 7 * 24 * time.Hour
	}
	log := cfg.Logger
	c := &Center{
		Metrics:  prometheus.New(),
		log:      log,
		shutdown: make(chan struct{}),
		serveErr: make(chan error, 2),
	}
	c.Recorder = regcenter.NewBootstrapRecorder(cfg.Store, regcenter.RecorderConfig{FlushInterval: cfg.FlushInterval, Logger: log})
	svc := regcenter.NewService(regcenter.ServiceConfig{Store: cfg.Store, Recorder: c.Recorder, NotClaimedRetryAfter: cfg.NotClaimedRetryAfter})
	handler := httpapi.NewHandler(httpapi.Config{
		Service: svc, Identify: cfg.Identify, Metrics: c.Metrics, Logger: log, HTTP2Only: cfg.HTTP2Only,
		EventPoll: cfg.EventPoll, Shutdown: c.shutdown,
	})
	if cfg.Wrap != nil {
		handler = cfg.Wrap(handler)
	}

	var err error
	c.api, err = httpapi.Listen(httpapi.ServerConfig{
		Addr:    cfg.Listen,
		Handler: handler,
		TLS:     cfg.TLS,
		OnHandshakeFailure: func(reason string, remote net.Addr, err error) {
			c.Metrics.HandshakeFailed(reason)
			log.Debug("TLS handshake refused", "reason", reason, "remote", remote.String(), "err", err)
		},
		Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	c.ops, err = httpapi.Listen(httpapi.ServerConfig{
		Addr: cfg.OpsListen, Handler: httpapi.NewOpsHandler(cfg.Store.Ping, c.Metrics.Handler(), cfg.Profiling, log), Logger: log,
	})
	if err != nil {
		c.api.Shutdown(context.Background())
		return nil, fmt.Errorf("listen %s: %w", cfg.OpsListen, err)
	}
	c.APIAddr, c.OpsAddr = c.api.Addr(), c.ops.Addr()

	bgCtx, stop := context.WithCancel(context.Background())
	c.stopBackground = stop
	c.background.Go(func() { c.Recorder.Run(bgCtx) })
	c.background.Go(func() { pruneEvents(bgCtx, cfg.Store, cfg.EventRetention, log) })
	go func() { c.serveErr <- c.api.Serve() }()
	go func() { c.serveErr <- c.ops.Serve() }()
	return c, nil
}

// Err delivers the error of a server that stopped by itself.
func (c *Center) Err() <-chan error { return c.serveErr }

// Shutdown stops accepting, ends the events streams, lets requests in
// flight finish until ctx ends, then stops the background work; the
// recorder's final flush comes last, so that bootstraps answered during
// the drain are recorded. The store can be closed when it returns.
func (c *Center) Shutdown(ctx context.Context) error {
	c.stopOnce.Do(func() {
		close(c.shutdown)
		if err := c.api.Shutdown(ctx); err != nil {
			c.log.Warn("requests still in flight at the shutdown deadline were cut", "err", err)
			c.stopErr = err
		}
		c.ops.Shutdown(ctx)
		c.stopBackground()
		c.background.Wait()
	})
	return c.stopErr
}

// pruneEvents deletes events older than retention, once an hour, so that
// the events table stays the size of the retention window.
func pruneEvents(ctx context.Context, store regcenter.EventStore, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := store.PruneEvents(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("pruning old events failed; retrying in an hour", "err", err)
		case n > 0:
			log.Info("pruned old events", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
