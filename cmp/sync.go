package cmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
)

// Center is what the platform asks of the registration center.
// *client.Center implements it over one HTTP/2 connection.
type Center interface {
	PutPlatform(ctx context.Context, addrs []regcenter.Address, trustAnchor string) (regcenter.Platform, error)
	UploadDevices(ctx context.Context, items []regcenter.DeviceUpload) (regcenter.UploadReport, error)
	ReleaseDevice(ctx context.Context, esn string) error
	Events(ctx context.Context, after string, handle func(regcenter.Event) error) (string, error)
}

// Publication is what the platform publishes at the center with PUT
// /v1/platform.
type Publication struct {
	Addresses   []regcenter.Address
	TrustAnchor string // PEM of the CA(s) of the platform's server certificate
}

func (p Publication) equal(q Publication) bool {
	return p.TrustAnchor == q.TrustAnchor && slices.Equal(p.Addresses, q.Addresses)
}

// SyncConfig holds a Syncer's dependencies. Store, Center and Publication
// are required.
type SyncConfig struct {
	Store       OutboxStore
	Center      Center
	Publication Publication
	// Wake, when it receives, makes the Syncer look at the outbox at once
	// (Service.Queued).
	Wake <-chan struct{}
	// Retry spaces the attempts while the center fails (default
	// backoff.Default()); a Retry-After from the center is a floor.
	Retry backoff.Policy
	// Interval is how often the outbox is looked at without a wake-up
	// (default one minute).
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// Syncer publishes the platform's addresses and drains the outbox to the
// center: in batches of at most regcenter.MaxUploadDevices claims, each
// entry removed only once the center has answered for it. It publishes on
// its first round and again whenever the Publication changes. It is safe
// for concurrent use.
type Syncer struct {
	cfg  SyncConfig
	kick chan struct{}

	mu        sync.Mutex
	want      Publication
	published *Publication // nil until the center accepted want (or an older one)
	status    SyncStatus
}

// SyncStatus says how the Syncer is doing, for logs and tests.
type SyncStatus struct {
	Rounds     int       // rounds that ended with an empty outbox
	Failures   int       // rounds the center failed, in a row
	LastError  string    // the last failure, "" after a success
	LastSynced time.Time // when the outbox was last found empty
}

// NewSyncer returns a Syncer; Run starts it.
func NewSyncer(cfg SyncConfig) *Syncer {
	if cfg.Retry.Initial <= 0 {
		cfg.Retry = backoff.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Syncer{cfg: cfg, kick: make(chan struct{}, 1), want: cfg.Publication}
}

// Publish changes what the platform publishes; the Syncer sends it at
// once.
func (s *Syncer) Publish(p Publication) {
	s.mu.Lock()
	s.want = p
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Status returns how the Syncer is doing.
func (s *Syncer) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Run syncs until ctx ends. While the center fails it retries with
// capped exponential backoff and jitter, honouring Retry-After; wake-ups
// do not cut a backoff short, so that a burst of imports during an
// outage does not hammer the center.
func (s *Syncer) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	attempt := 0
	for {
		err := s.round(ctx)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if err != nil {
			s.status.Failures++
			s.status.LastError = err.Error()
		} else {
			s.status.Rounds++
			s.status.Failures = 0
			s.status.LastError = ""
			s.status.LastSynced = s.cfg.Now()
		}
		s.mu.Unlock()

		if err != nil {
			if !retryLater(ctx, s.cfg.Retry, attempt, err, s.cfg.Logger, "syncing with the center failed; retrying") {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.Wake:
		case <-s.kick:
		case <-t.C:
		}
	}
}

// round publishes if needed, then drains the outbox until it is empty.
func (s *Syncer) round(ctx context.Context) error {
	if err := s.publish(ctx); err != nil {
		return err
	}
	for {
		entries, err := s.cfg.Store.Outbox(ctx, regcenter.MaxUploadDevices)
		if err != nil {
			return fmt.Errorf("reading the outbox: %w", err)
		}
		if len(entries) == 0 {
			return nil
		}
		if err := s.send(ctx, entries); err != nil {
			return err
		}
	}
}

func (s *Syncer) publish(ctx context.Context) error {
	s.mu.Lock()
	want, published := s.want, s.published
	s.mu.Unlock()
	if published != nil && published.equal(want) {
		return nil
	}
	if _, err := s.cfg.Center.PutPlatform(ctx, want.Addresses, want.TrustAnchor); err != nil {
		return fmt.Errorf("publishing the platform's addresses: %w", err)
	}
	s.mu.Lock()
	s.published = &want
	s.mu.Unlock()
	s.cfg.Logger.Info("published the platform's addresses at the center", "addresses", want.Addresses)
	return nil
}

// send uploads the claims among entries in one request, then releases
// the others one by one, acknowledging what the center answered for.
func (s *Syncer) send(ctx context.Context, entries []OutboxEntry) error {
	var claims, releases []OutboxEntry
	for _, e := range entries {
		if e.Op == OpRelease {
			releases = append(releases, e)
		} else {
			claims = append(claims, e)
		}
	}
	if len(claims) > 0 {
		items := make([]regcenter.DeviceUpload, len(claims))
		for i, e := range claims {
			items[i] = regcenter.DeviceUpload{ESN: e.ESN, DeviceType: e.DeviceType}
		}
		report, err := s.cfg.Center.UploadDevices(ctx, items)
		if err != nil {
			return fmt.Errorf("uploading %d devices: %w", len(items), err)
		}
		if len(report.Results) != len(claims) {
			return fmt.Errorf("uploading %d devices: the center answered for %d", len(claims), len(report.Results))
		}
		acks := make([]Ack, len(claims))
		for i, r := range report.Results {
			acks[i] = Ack{Seq: claims[i].Seq, ESN: claims[i].ESN, State: stateOf(r.Result), Detail: r.Detail}
		}
		if err := s.cfg.Store.Acknowledge(ctx, acks, s.cfg.Now()); err != nil {
			return fmt.Errorf("recording the center's answer: %w", err)
		}
		c := report.Counts
		s.cfg.Logger.Info("devices uploaded to the center", "created", c.Created, "unchanged", c.Unchanged, "updated", c.Updated, "conflict", c.Conflict, "invalid", c.Invalid)
	}
	var acks []Ack
	var failed error
	for _, e := range releases {
		err := s.cfg.Center.ReleaseDevice(ctx, e.ESN)
		// not_found: the claim never reached the center, or is gone
		// already; either way nothing is left to release.
		if err != nil && !errors.Is(err, regcenter.ErrNotFound) {
			failed = fmt.Errorf("releasing %s: %w", e.ESN, err)
			break
		}
		acks = append(acks, Ack{Seq: e.Seq, ESN: e.ESN})
	}
	if len(acks) > 0 {
		if err := s.cfg.Store.Acknowledge(ctx, acks, s.cfg.Now()); err != nil {
			return fmt.Errorf("recording the center's answer: %w", err)
		}
		s.cfg.Logger.Info("devices released at the center", "count", len(acks))
	}
	return failed
}

// retryLater waits before retry number attempt (from 0) after err, never
// less than a Retry-After the center sent. It returns false when ctx
// ended first.
func retryLater(ctx context.Context, p backoff.Policy, attempt int, err error, log *slog.Logger, msg string) bool {
	var retryAfter time.Duration
	if e, ok := regcenter.AsError(err); ok {
		retryAfter = e.RetryAfter
	}
	d := p.Delay(attempt, retryAfter)
	log.Warn(msg, "attempt", attempt+1, "in", d, "err", err)
	return backoff.Sleep(ctx, d) == nil
}
