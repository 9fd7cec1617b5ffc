package regcenter

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// BootstrapRecorder batches the bootstrap observations of the hot path so
// that answering a switch never waits for a disk sync (group commit).
// Observations of one device within a batch are merged into one record.
//
// What a crash may lose: the observations made since the last successful
// flush, at most one FlushInterval of them (one second by default), plus
// any batch whose flush was failing at the time. Claims, releases and
// address changes never go through here; they are durable before their 2xx.
type BootstrapRecorder struct {
	store      BootstrapStore
	interval   time.Duration
	maxPending int
	log        *slog.Logger

	// flushing serialises flushes, so that a Flush returns only once
	// everything recorded before it is in the store, including a batch the
	// background loop was writing at that moment.
	flushing sync.Mutex

	mu      sync.Mutex
	pending map[string]*BootstrapRecord
	dropped int64
	kick    chan struct{}
}

// RecorderConfig configures a BootstrapRecorder. Zero values take defaults.
type RecorderConfig struct {
	FlushInterval time.Duration // default 1s
	// MaxPending bounds the distinct devices awaiting a flush (default
	// 100,000). Reaching it triggers a flush; past it, while the store
	// cannot take a flush, new devices' observations are dropped and
	// counted rather than growing memory without bound.
	MaxPending int
	Logger     *slog.Logger
}

// NewBootstrapRecorder returns a recorder writing to store. Call Run to
// flush in the background.
func NewBootstrapRecorder(store BootstrapStore, cfg RecorderConfig) *BootstrapRecorder {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &BootstrapRecorder{
		store:      store,
		interval:   cfg.FlushInterval,
		maxPending: cfg.MaxPending,
		log:        cfg.Logger,
		pending:    make(map[string]*BootstrapRecord),
		kick:       make(chan struct{}, 1),
	}
}

// Record notes one answered bootstrap. It never blocks on the store.
func (r *BootstrapRecorder) Record(rec BootstrapRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.pending[rec.ESN]; ok && p.PlatformID == rec.PlatformID {
		p.Count += rec.Count
		if !rec.At.Before(p.At) {
			p.At, p.Mode, p.SoftwareVersion = rec.At, rec.Mode, rec.SoftwareVersion
		}
		return
	}
	if len(r.pending) >= r.maxPending {
		r.dropped++
		r.signal()
		return
	}
	r.pending[rec.ESN] = &rec
	if len(r.pending) >= r.maxPending {
		r.signal()
	}
}

func (r *BootstrapRecorder) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Dropped is how many observations were dropped because too many were
// pending while the store could not take them.
func (r *BootstrapRecorder) Dropped() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Flush writes every pending observation and returns once everything
// recorded before the call is in the store. On failure the observations
// stay pending (merged with newer ones) for the next flush.
func (r *BootstrapRecorder) Flush(ctx context.Context) error {
	r.flushing.Lock()
	defer r.flushing.Unlock()
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.mu.Unlock()
		return nil
	}
	batch := make([]BootstrapRecord, 0, len(r.pending))
	for _, p := range r.pending {
		batch = append(batch, *p)
	}
	r.pending = make(map[string]*BootstrapRecord, len(batch))
	r.mu.Unlock()

	err := r.store.RecordBootstraps(ctx, batch)
	if err != nil {
		for _, rec := range batch {
			r.Record(rec)
		}
	}
	return err
}

// Run flushes every FlushInterval, or sooner when MaxPending is reached,
// until ctx ends; then it flushes once more with a bounded deadline.
func (r *BootstrapRecorder) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.Flush(final); err != nil {
				r.log.Error("final flush of bootstrap records failed; they are lost", "err", err)
			}
			return
		case <-t.C:
		case <-r.kick:
		}
		if err := r.Flush(ctx); err != nil {
			r.log.Warn("flush of bootstrap records failed; retrying at the next interval", "err", err)
		}
	}
}
