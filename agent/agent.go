package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/client"
)

// ErrRestart is what Run returns once the switch has persisted a new mode:
// the caller restarts the switch, which then knows only what its state
// directory says. It is not a failure.
var ErrRestart = errors.New("agent: restart")

// ErrNoTrustAnchor means the switch knows no CA with which to authenticate
// its platform (the center published none), so it does not register: a
// platform it cannot authenticate could be anyone.
var ErrNoTrustAnchor = errors.New("agent: no trust anchor for the platform; it cannot be authenticated")

// DefaultDeviceType is the device type a switch reports when none is
// configured; platforms import devices with a type, so simulations need one.
const DefaultDeviceType = "S5735-L24T4S-A"

// Phase is where a switch is in its onboarding.
type Phase string

const (
	PhaseDiscovering  Phase = "discovering"   // waiting for its management address
	PhaseAskingCenter Phase = "asking_center" // a bootstrap request is in flight, or failed and will be retried
	PhaseWaitingClaim Phase = "waiting_claim" // the center knows no platform for it yet; asking again later
	PhaseRestarting   Phase = "restarting"    // cloud mode persisted; Run returns ErrRestart
	PhaseRegistering  Phase = "registering"   // registering with the platform, or waiting to try again
	PhaseRegistered   Phase = "registered"    // the platform accepted it; heartbeats not (or no longer) answered
	PhaseOnline       Phase = "online"        // registered and heartbeating
)

// Phases lists the phases in the order a switch goes through them.
func Phases() []Phase {
	return []Phase{PhaseDiscovering, PhaseAskingCenter, PhaseWaitingClaim, PhaseRestarting, PhaseRegistering, PhaseRegistered, PhaseOnline}
}

// Progress is one observation of a switch, reported at every change of
// phase and at every retry.
type Progress struct {
	ESN   string
	Phase Phase
	Mode  regcenter.Mode
	// Retries counts the failed attempts (of discovery, of asking the
	// center, of registering, of heartbeats) since this Agent was made; a
	// restart starts again at 0.
	Retries int
	// Wait is how long the switch waits before it tries again, when the
	// observation is a retry.
	Wait time.Duration
	// Err is why the last attempt failed, on a retry.
	Err error
	// Platform is the address the switch registered at (registered, online).
	Platform regcenter.Address
	At       time.Time
}

// Config is what a switch knows before it ever boots: its identity, where
// the center is and whom to trust, and how patient to be.
type Config struct {
	StateDir    string          // the switch's only memory; see State
	Certificate tls.Certificate // the device certificate (IDevID); its subject serialNumber is the ESN
	CenterURL   string          // https://host:port of the registration center
	CenterRoots *x509.CertPool  // the center's CA; the only one the center is verified against
	// PlatformCA is a PEM bundle of platform CAs preinstalled on the
	// switch. Only a platform found through DHCP option 148 is verified
	// against it (the center gives no trust anchor then); without it,
	// option 148 cannot be used safely and is ignored.
	PlatformCA string
	Discovery  Discovery // default Static{}: no management address, no option 148

	DeviceType      string // default DefaultDeviceType
	SoftwareVersion string

	// Retry paces every retry. A Retry-After from the center is a floor,
	// itself capped by MaxRetryAfter when that is positive (demos and
	// tests cannot wait the minute a center asks for). Default
	// backoff.Default().
	Retry         backoff.Policy
	MaxRetryAfter time.Duration
	// RequestTimeout bounds each request to the center or the platform
	// (default 10s).
	RequestTimeout time.Duration
	// HeartbeatMisses is how many heartbeats in a row may fail before the
	// switch asks the center again, since its platform may have moved
	// (default 3).
	HeartbeatMisses int

	Logger *slog.Logger // default: discard
	// OnProgress, when set, is called synchronously with every
	// observation; it must return quickly.
	OnProgress func(Progress)
	Now        func() time.Time // default time.Now
}

// defaultHeartbeat stands in for an interval the platform did not give.
const defaultHeartbeat = 30 * time.Second

// Agent is one boot of a switch: made from the state directory by New, run
// once by Run. A restart is a new Agent.
type Agent struct {
	cfg     Config
	esn     string
	state   State
	center  *client.Center
	log     *slog.Logger
	phase   Phase
	retries int
	attempt int // consecutive failures, which the backoff grows with
	at      regcenter.Address
}

// New reads the state directory and prepares a boot of the switch. It
// fails on a missing setting, a certificate without a valid ESN, an
// invalid PlatformCA, and a corrupt state (ErrCorruptState).
func New(cfg Config) (*Agent, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("agent: a state directory is required")
	}
	if cfg.CenterRoots == nil {
		return nil, errors.New("agent: the center's CA is required")
	}
	esn, err := ESN(cfg.Certificate)
	if err != nil {
		return nil, err
	}
	if cfg.PlatformCA != "" {
		if _, err := regcenter.ParseCertificates([]byte(cfg.PlatformCA)); err != nil {
			return nil, fmt.Errorf("agent: platform CA: %w", err)
		}
	}
	state, err := Load(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.Discovery == nil {
		cfg.Discovery = Static{}
	}
	if cfg.DeviceType == "" {
		cfg.DeviceType = DefaultDeviceType
	}
	if cfg.Retry == (backoff.Policy{}) {
		cfg.Retry = backoff.Default()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.HeartbeatMisses <= 0 {
		cfg.HeartbeatMisses = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	center, err := client.New(client.Config{URL: cfg.CenterURL, Certificate: cfg.Certificate, Roots: cfg.CenterRoots, Timeout: cfg.RequestTimeout})
	if err != nil {
		return nil, fmt.Errorf("agent: center: %w", err)
	}
	return &Agent{cfg: cfg, esn: esn, state: state, center: center, log: cfg.Logger}, nil
}

// ESN reads a device certificate's serial number as the center does: the
// subject serialNumber, or the CN when there is none, normalised.
func ESN(cert tls.Certificate) (string, error) {
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return "", errors.New("agent: a device certificate is required")
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return "", fmt.Errorf("agent: device certificate: %w", err)
		}
	}
	sn := leaf.Subject.SerialNumber
	if sn == "" {
		sn = leaf.Subject.CommonName
	}
	esn, err := regcenter.NormalizeESN(sn)
	if err != nil {
		return "", fmt.Errorf("agent: device certificate's serial number: %w", err)
	}
	return esn, nil
}

// ESN is the switch's serial number.
func (a *Agent) ESN() string { return a.esn }

// State is what the switch remembers: as read by New, and as left by Run
// once it returns.
func (a *Agent) State() State { return a.state }

// Run boots the switch and drives it until ctx ends (it returns ctx's
// error), until it must restart (ErrRestart, after the new mode is
// persisted), or until its state cannot be written. Failures to reach the
// center or the platform are never returned: they are retried.
func (a *Agent) Run(ctx context.Context) error {
	defer a.center.Close()
	a.log.Info("switch booting", "esn", a.esn, "mode", a.state.Mode, "state", a.cfg.StateDir)
	lease, err := a.discover(ctx)
	if err != nil {
		return err
	}
	direct := a.option148(lease)
	if a.state.Mode == regcenter.ModeCloud {
		return a.runCloud(ctx, direct)
	}
	return a.runTraditional(ctx, direct)
}

func (a *Agent) discover(ctx context.Context) (Lease, error) {
	for {
		a.report(PhaseDiscovering, nil, 0)
		lease, err := a.cfg.Discovery.Discover(ctx)
		if err == nil {
			if lease.Address.IsValid() {
				a.log.Info("management address", "address", lease.Address)
			}
			a.attempt = 0
			return lease, nil
		}
		if ctx.Err() != nil {
			return Lease{}, ctx.Err()
		}
		a.log.Warn("discovery failed", "err", err)
		if err := a.retry(ctx, PhaseDiscovering, err, 0); err != nil {
			return Lease{}, err
		}
	}
}

// option148 returns the platform that the lease's option 148 names, or nil
// when there is none, it is malformed, or it cannot be used safely.
func (a *Agent) option148(lease Lease) *Option148 {
	if lease.Option148 == "" {
		return nil
	}
	o, err := ParseOption148(lease.Option148)
	if err != nil {
		a.log.Warn("DHCP option 148 ignored: malformed; asking the registration center", "option148", lease.Option148, "err", err)
		return nil
	}
	if a.cfg.PlatformCA == "" {
		a.log.Warn("DHCP option 148 ignored: no preinstalled platform CA to authenticate its platform with; asking the registration center", "platform", o.Address)
		return nil
	}
	a.log.Info("DHCP option 148: going straight to the platform, without the registration center", "platform", o.Address)
	return &o
}

// runTraditional finds the platform and persists cloud mode, then asks
// for the restart that makes the switch cloud-managed.
func (a *Agent) runTraditional(ctx context.Context, direct *Option148) error {
	next := a.directState(direct)
	if direct == nil {
		ans, err := a.askUntilAnswered(ctx)
		if err != nil {
			return err
		}
		next = answerState(ans)
	}
	if err := a.save(next); err != nil {
		return err
	}
	a.log.Info("cloud mode persisted; restarting", "source", next.Source, "platform", next.PlatformID, "addresses", next.Addresses)
	a.report(PhaseRestarting, nil, 0)
	return ErrRestart
}

func (a *Agent) askUntilAnswered(ctx context.Context) (regcenter.BootstrapAnswer, error) {
	for {
		ans, err := a.askCenter(ctx)
		if err == nil {
			a.attempt = 0
			return ans, nil
		}
		if ctx.Err() != nil {
			return ans, ctx.Err()
		}
		phase, retryAfter := a.centerFailure(err)
		if err := a.retry(ctx, phase, err, retryAfter); err != nil {
			return ans, err
		}
	}
}

// askCenter asks once, in the switch's current mode, and checks the answer
// before anything of it is persisted.
func (a *Agent) askCenter(ctx context.Context) (regcenter.BootstrapAnswer, error) {
	a.report(PhaseAskingCenter, nil, 0)
	ans, err := a.center.Bootstrap(ctx, regcenter.BootstrapRequest{
		ESN: a.esn, DeviceType: a.cfg.DeviceType, SoftwareVersion: a.cfg.SoftwareVersion, Mode: a.state.Mode,
	})
	if err != nil {
		return ans, err
	}
	if err := regcenter.ValidateAddresses(ans.Addresses); err != nil {
		return ans, fmt.Errorf("the center's answer: %w", err)
	}
	if err := regcenter.ValidateTrustAnchor(ans.TrustAnchor); err != nil {
		return ans, fmt.Errorf("the center's answer: %w", err)
	}
	return ans, nil
}

// centerFailure logs why the center did not answer and says what the
// switch is doing about it: which phase it waits in, and the center's
// Retry-After.
func (a *Agent) centerFailure(err error) (Phase, time.Duration) {
	e, ok := regcenter.AsError(err)
	switch {
	case !ok:
		a.log.Warn("the registration center is unreachable", "err", err)
		return PhaseAskingCenter, 0
	case e.Code == regcenter.CodeNotClaimed:
		a.log.Info("no platform has claimed this switch yet", "retry_after", e.RetryAfter)
		return PhaseWaitingClaim, e.RetryAfter
	case errors.Is(err, regcenter.ErrUnavailable):
		a.log.Warn("the registration center is unavailable", "err", err)
	default:
		// Not something time fixes on its own (a certificate the center
		// refuses, say), but a switch has nobody to report to but its log.
		a.log.Error("the registration center refused this switch", "err", err)
	}
	return PhaseAskingCenter, e.RetryAfter
}

// retry counts a failed attempt, reports it and waits before the next.
func (a *Agent) retry(ctx context.Context, phase Phase, cause error, retryAfter time.Duration) error {
	if a.cfg.MaxRetryAfter > 0 && retryAfter > a.cfg.MaxRetryAfter {
		retryAfter = a.cfg.MaxRetryAfter
	}
	d := a.cfg.Retry.Delay(a.attempt, retryAfter)
	a.attempt++
	a.retries++
	a.log.Debug("retrying", "phase", phase, "in", d, "retries", a.retries)
	a.report(phase, cause, d)
	return backoff.Sleep(ctx, d)
}

func (a *Agent) report(phase Phase, err error, wait time.Duration) {
	a.phase = phase
	if a.cfg.OnProgress == nil {
		return
	}
	a.cfg.OnProgress(Progress{
		ESN: a.esn, Phase: phase, Mode: a.state.Mode, Retries: a.retries, Wait: wait, Err: err,
		Platform: a.at, At: a.cfg.Now(),
	})
}

// errNotSaved marks a failure to write the state: the one failure a switch
// cannot work around, since it could not survive its next restart.
var errNotSaved = errors.New("agent: state not saved")

func (a *Agent) save(s State) error {
	if err := Save(a.cfg.StateDir, s); err != nil {
		return fmt.Errorf("%w: %w", errNotSaved, err)
	}
	a.state = s
	return nil
}

// directState is the state that option 148 leads to (the zero State when
// there is none).
func (a *Agent) directState(o *Option148) State {
	if o == nil {
		return State{}
	}
	return State{Mode: regcenter.ModeCloud, Source: SourceOption148, Addresses: []regcenter.Address{o.Address}, TrustAnchor: a.cfg.PlatformCA}
}

func answerState(ans regcenter.BootstrapAnswer) State {
	return State{Mode: regcenter.ModeCloud, Source: SourceCenter, PlatformID: ans.PlatformID, Addresses: ans.Addresses, TrustAnchor: ans.TrustAnchor}
}

// samePlatform says whether two cloud states point at the same platform
// the same way, so that a registration made under one holds for the other.
func samePlatform(x, y State) bool {
	return x.Source == y.Source && x.PlatformID == y.PlatformID && x.TrustAnchor == y.TrustAnchor &&
		slices.Equal(x.Addresses, y.Addresses)
}
