// Package fleet runs many simulated switches in one process: each an
// agent.Agent with its own device certificate and state directory, each
// restarted in-process by building a fresh Agent from its directory, as a
// real switch reboots from its flash. It reports their progress while they
// run and a summary at the end (states, time to onboard, retries).
//
// fleet is a client like a real switch is: it must never import the
// center's server, a store or the platform's implementation.
package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// DefaultESNPrefix names the simulated switches: SIM0000, SIM0001, ...
const DefaultESNPrefix = "SIM"

// Config describes a fleet.
type Config struct {
	// PKI holds the device certificates (devices/ESN/), issued with its
	// device CA when missing, and the center's CA (center-ca.crt).
	PKI       pki.Dir
	Count     int
	ESNPrefix string // default DefaultESNPrefix; ESNs as pki.FleetESNs makes them
	CenterURL string
	// CenterRoots overrides the PKI's center-ca.crt.
	CenterRoots *x509.CertPool
	// StateDir holds one state directory per switch, StateDir/ESN. A
	// switch whose directory already says cloud mode boots in cloud mode.
	StateDir string
	// Concurrency is how many switches may be onboarding at once; a
	// switch frees its place once it reaches Until (default: all at once).
	Concurrency int
	// Until is the phase every switch must reach (default
	// agent.PhaseRegistered; agent.PhaseOnline waits for a heartbeat).
	Until agent.Phase
	// Timeout bounds the whole run (0: only ctx bounds it).
	Timeout time.Duration

	DeviceType, SoftwareVersion string
	Retry                       backoff.Policy // see agent.Config
	MaxRetryAfter               time.Duration
	RequestTimeout              time.Duration

	Logger *slog.Logger // the agents' logs, each with its esn; default: discard
	// Progress receives a progress line every ProgressInterval (default
	// 200ms on a terminal, 1s otherwise): rewritten in place with \r when
	// Terminal is set, one line after another when not. nil: none.
	Progress         io.Writer
	Terminal         bool
	ProgressInterval time.Duration
	// OnProgress, when set, receives every observation of every switch.
	// It is called from the switches' goroutines, concurrently, and must
	// return quickly.
	OnProgress func(agent.Progress)
	Now        func() time.Time // default time.Now
}

// Fleet is a running fleet.
type Fleet struct {
	cfg     Config
	started time.Time
	until   int // rank of cfg.Until

	mu       sync.Mutex
	switches []Switch
	boots    []time.Time
	base     []int // retries of the switch's earlier boots
	reached  int
	all      chan struct{} // closed when every switch reached Until

	done    chan struct{}
	summary Summary
	err     error
}

// Run runs a fleet until every switch reached cfg.Until, ctx ends or
// cfg.Timeout passes, stops every switch, and returns the summary. The
// error says why not every switch reached Until; the summary is complete
// either way.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	f, err := Start(ctx, cfg)
	if err != nil {
		return Summary{}, err
	}
	return f.Wait()
}

// Start issues the missing device certificates and boots the fleet. It
// returns at once; Wait returns what Run returns.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	now := cfg.Now()
	if _, err := pki.IssueDevices(ctx, cfg.PKI, cfg.ESNPrefix, cfg.Count, now); err != nil {
		return nil, fmt.Errorf("fleet: device certificates: %w", err)
	}
	esns, err := pki.FleetESNs(cfg.ESNPrefix, cfg.Count)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	certs := make([]tls.Certificate, len(esns))
	for i, esn := range esns {
		if certs[i], err = tls.LoadX509KeyPair(cfg.PKI.DeviceCert(esn), cfg.PKI.DeviceKey(esn)); err != nil {
			return nil, fmt.Errorf("fleet: device %s: %w", esn, err)
		}
	}
	if cfg.CenterRoots == nil {
		if cfg.CenterRoots, err = mtls.LoadPool(cfg.PKI.CenterCACert()); err != nil {
			return nil, fmt.Errorf("fleet: the center's CA: %w", err)
		}
	}

	f := &Fleet{
		cfg: cfg, started: now, until: slices.Index(agent.Phases(), cfg.Until),
		switches: make([]Switch, len(esns)), boots: make([]time.Time, len(esns)), base: make([]int, len(esns)),
		all: make(chan struct{}), done: make(chan struct{}),
	}
	for i, esn := range esns {
		f.switches[i] = Switch{ESN: esn, StateDir: filepath.Join(cfg.StateDir, esn)}
	}

	var cancel context.CancelFunc
	if cfg.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range esns {
		wg.Go(func() { f.runSwitch(ctx, i, certs[i], slots) })
	}
	stopProgress := f.reportProgress()
	go func() {
		select {
		case <-f.all:
		case <-ctx.Done():
		}
		cause := ctx.Err()
		cancel()
		wg.Wait()
		stopProgress()
		f.finish(cause)
	}()
	return f, nil
}

func (cfg *Config) defaults() error {
	switch {
	case cfg.PKI == "":
		return errors.New("fleet: a PKI directory is required")
	case cfg.StateDir == "":
		return errors.New("fleet: a state directory is required")
	case cfg.CenterURL == "":
		return errors.New("fleet: the center's URL is required")
	case cfg.Count < 1 || cfg.Count > pki.MaxFleetSize:
		return fmt.Errorf("fleet: count must be 1 to %d", pki.MaxFleetSize)
	}
	if cfg.ESNPrefix == "" {
		cfg.ESNPrefix = DefaultESNPrefix
	}
	if cfg.Concurrency <= 0 || cfg.Concurrency > cfg.Count {
		cfg.Concurrency = cfg.Count
	}
	if cfg.Until == "" {
		cfg.Until = agent.PhaseRegistered
	}
	if !slices.Contains(agent.Phases(), cfg.Until) {
		return fmt.Errorf("fleet: unknown phase %q", cfg.Until)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
		if cfg.Terminal {
			cfg.ProgressInterval = 200 * time.Millisecond
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return nil
}

// runSwitch boots switch i, and boots it again after every restart, each
// time from its state directory alone.
func (f *Fleet) runSwitch(ctx context.Context, i int, cert tls.Certificate, slots chan struct{}) {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	holding := true
	release := func() {
		if holding {
			holding = false
			<-slots
		}
	}
	defer release()

	f.mu.Lock()
	f.boots[i] = f.cfg.Now()
	sw := f.switches[i]
	f.mu.Unlock()
	cfg := agent.Config{
		StateDir: sw.StateDir, Certificate: cert, CenterURL: f.cfg.CenterURL, CenterRoots: f.cfg.CenterRoots,
		DeviceType: f.cfg.DeviceType, SoftwareVersion: f.cfg.SoftwareVersion,
		Retry: f.cfg.Retry, MaxRetryAfter: f.cfg.MaxRetryAfter, RequestTimeout: f.cfg.RequestTimeout,
		Logger: f.cfg.Logger.With("esn", sw.ESN), Now: f.cfg.Now,
		// Run calls it on this goroutine, so release needs no lock.
		OnProgress: func(p agent.Progress) {
			if f.observe(i, p) {
				release()
			}
		},
	}
	for {
		a, err := agent.New(cfg)
		if err == nil {
			err = a.Run(ctx)
		}
		if errors.Is(err, agent.ErrRestart) {
			f.restarted(i)
			continue
		}
		if ctx.Err() == nil {
			f.failed(i, err)
		}
		return
	}
}

// observe records p and says whether the switch reached Until with it for
// the first time.
func (f *Fleet) observe(i int, p agent.Progress) bool {
	f.mu.Lock()
	s := &f.switches[i]
	s.Phase, s.Mode = p.Phase, p.Mode
	s.Retries = f.base[i] + p.Retries
	if p.Err != nil {
		s.LastErr = p.Err
	}
	if s.Onboard == 0 && (p.Phase == agent.PhaseRegistered || p.Phase == agent.PhaseOnline) {
		s.Onboard = max(p.At.Sub(f.boots[i]), time.Nanosecond)
	}
	first := !s.Reached && slices.Index(agent.Phases(), p.Phase) >= f.until
	if first {
		s.Reached = true
		f.reached++
		if f.reached == len(f.switches) {
			close(f.all)
		}
	}
	f.mu.Unlock()
	if f.cfg.OnProgress != nil {
		f.cfg.OnProgress(p)
	}
	return first
}

func (f *Fleet) restarted(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.switches[i].Restarts++
	f.base[i] = f.switches[i].Retries
}

func (f *Fleet) failed(i int, err error) {
	f.cfg.Logger.Error("switch stopped", "esn", f.switches[i].ESN, "err", err)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.switches[i].Stopped = err
}

// Snapshot summarises the fleet as it is now.
func (f *Fleet) Snapshot() Summary {
	f.mu.Lock()
	defer f.mu.Unlock()
	return summarize(f.switches, f.cfg.Now().Sub(f.started))
}

// Wait waits until the fleet stopped and returns its summary, with an
// error unless every switch reached Until.
func (f *Fleet) Wait() (Summary, error) {
	<-f.done
	return f.summary, f.err
}

// Done is closed when the fleet has stopped.
func (f *Fleet) Done() <-chan struct{} { return f.done }

func (f *Fleet) finish(cause error) {
	f.mu.Lock()
	f.summary = summarize(f.switches, f.cfg.Now().Sub(f.started))
	reached := f.reached
	f.mu.Unlock()
	if reached < f.cfg.Count {
		f.err = fmt.Errorf("fleet: %d of %d switches did not reach %s", f.cfg.Count-reached, f.cfg.Count, f.cfg.Until)
		if errors.Is(cause, context.DeadlineExceeded) && f.cfg.Timeout > 0 {
			f.err = fmt.Errorf("%w within %v", f.err, f.cfg.Timeout)
		} else if cause != nil {
			f.err = fmt.Errorf("%w: %w", f.err, cause)
		}
	}
	close(f.done)
}

// reportProgress writes a progress line every interval until the returned
// function is called, which writes the last one.
func (f *Fleet) reportProgress() (stop func()) {
	w := f.cfg.Progress
	if w == nil {
		return func() {}
	}
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(f.cfg.ProgressInterval)
		defer t.Stop()
		width := 0
		for {
			select {
			case <-t.C:
			case <-quit:
			}
			line := f.Snapshot().Line()
			if f.cfg.Terminal {
				// Pad over what remains of a longer previous line.
				fmt.Fprintf(w, "\r%-*s", width, line)
				width = max(width, len(line))
			} else {
				fmt.Fprintln(w, line)
			}
			select {
			case <-quit:
				if f.cfg.Terminal {
					fmt.Fprintln(w)
				}
				return
			default:
			}
		}
	}()
	return func() {
		close(quit)
		<-stopped
	}
}
