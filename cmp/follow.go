package cmp

import (
	"context"
	"log/slog"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
)

// FollowConfig holds a Follower's dependencies. Store and Center are
// required.
type FollowConfig struct {
	Store  EventStore
	Center Center
	// Retry spaces reconnections after a failure (default
	// backoff.Default()).
	Retry  backoff.Policy
	Logger *slog.Logger
}

// Follower follows the center's events about the platform's devices and
// records when each device last asked the center.
type Follower struct {
	cfg FollowConfig
}

// NewFollower returns a Follower; Run starts it.
func NewFollower(cfg FollowConfig) *Follower {
	if cfg.Retry.Initial <= 0 {
		cfg.Retry = backoff.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Follower{cfg: cfg}
}

// Run follows the stream until ctx ends, resuming from the stored cursor.
// The center ends streams now and then: the Follower then reconnects at
// once; after a failure it backs off.
func (f *Follower) Run(ctx context.Context) {
	attempt := 0
	for {
		cursor, err := f.cfg.Store.EventCursor(ctx)
		if err == nil {
			_, err = f.cfg.Center.Events(ctx, cursor, func(e regcenter.Event) error {
				attempt = 0 // the stream works
				return f.cfg.Store.ApplyEvent(ctx, e)
			})
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue
		}
		if !retryLater(ctx, f.cfg.Retry, attempt, err, f.cfg.Logger, "following the center's events failed; reconnecting") {
			return
		}
		attempt++
	}
}
