package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/mtls"
)

// runCloud is a cloud-managed switch's life: find the platform, register,
// heartbeat; when the platform cannot be reached or stops answering, find
// it again, since it may have moved.
func (a *Agent) runCloud(ctx context.Context, direct *Option148) error {
	for {
		if err := a.locatePlatform(ctx, direct); err != nil {
			return err
		}
		pc, err := a.register(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, errNotSaved) {
				return err
			}
			if err := a.retry(ctx, PhaseRegistering, err, 0); err != nil {
				return err
			}
			continue
		}
		a.attempt = 0
		err = a.heartbeat(ctx, pc)
		pc.ep.Close()
		if ctx.Err() != nil || errors.Is(err, errNotSaved) {
			return err
		}
		a.log.Warn("lost the platform; asking the registration center where it is", "platform", pc.addr, "err", err)
	}
}

// locatePlatform refreshes where the platform is: from option 148 when it
// applies, else from the center. A center that does not answer is no
// reason to wait: the switch goes to the platform it remembers.
func (a *Agent) locatePlatform(ctx context.Context, direct *Option148) error {
	next := a.directState(direct)
	if direct == nil {
		ans, err := a.askCenter(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			a.log.Warn("no answer from the registration center; going to the platform remembered", "addresses", a.state.Addresses, "err", err)
			return nil
		}
		next = answerState(ans)
	}
	if samePlatform(a.state, next) {
		return nil
	}
	a.log.Info("the platform moved; following it", "from", a.state.Addresses, "to", next.Addresses, "source", next.Source)
	return a.save(next)
}

// platformConn is a registration with one of the platform's addresses.
type platformConn struct {
	ep       *client.Endpoint
	addr     regcenter.Address
	interval time.Duration
}

// register tries the platform's addresses in order and returns the first
// that accepts the switch. The platform is authenticated with the trust
// anchor alone.
func (a *Agent) register(ctx context.Context) (*platformConn, error) {
	a.at = regcenter.Address{}
	a.report(PhaseRegistering, nil, 0)
	roots, err := trustPool(a.state.TrustAnchor)
	if err != nil {
		a.log.Error("not registering: the platform cannot be authenticated", "err", err)
		return nil, err
	}
	tlsConfig := mtls.ClientConfig(a.cfg.Certificate, roots)
	var errs []error
	for _, addr := range a.state.Addresses {
		hostPort := net.JoinHostPort(addr.Host, strconv.Itoa(addr.Port))
		ep, err := client.NewEndpoint("https://"+hostPort, tlsConfig, a.cfg.RequestTimeout)
		if err == nil {
			pc := &platformConn{ep: ep, addr: addr}
			if err = a.registerAt(ctx, pc); err == nil {
				return pc, nil
			}
			ep.Close()
		}
		if ctx.Err() != nil || errors.Is(err, errNotSaved) {
			return nil, err
		}
		a.log.Warn("registration failed", "platform", hostPort, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", hostPort, err))
	}
	return nil, errors.Join(errs...)
}

// trustPool is the trust anchor as the only roots: never the system's.
func trustPool(anchor string) (*x509.CertPool, error) {
	if anchor == "" {
		return nil, ErrNoTrustAnchor
	}
	certs, err := regcenter.ParseCertificates([]byte(anchor))
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// registerAt registers over pc and persists the result.
func (a *Agent) registerAt(ctx context.Context, pc *platformConn) error {
	var resp cmpwire.RegisterResponse
	err := pc.ep.Do(ctx, "POST", "/v1/register", cmpwire.RegisterRequest{
		ESN: a.esn, DeviceType: a.cfg.DeviceType, SoftwareVersion: a.cfg.SoftwareVersion,
	}, &resp)
	if err != nil {
		return err
	}
	pc.interval = defaultHeartbeat
	if resp.HeartbeatIntervalSeconds > 0 {
		pc.interval = time.Duration(resp.HeartbeatIntervalSeconds) * time.Second
	}
	next := a.state
	next.Registration = &Registration{
		PlatformID: resp.PlatformID, Address: pc.addr, RegisteredAt: resp.RegisteredAt,
		HeartbeatIntervalSeconds: int(pc.interval / time.Second),
	}
	if err := a.save(next); err != nil {
		return err
	}
	a.at = pc.addr
	a.log.Info("registered with the platform", "platform", resp.PlatformID, "address", pc.addr, "heartbeat", pc.interval)
	a.report(PhaseRegistered, nil, 0)
	return nil
}

// heartbeat beats at once and then at the platform's interval until ctx
// ends or HeartbeatMisses beats in a row fail. A platform that no longer
// knows the registration gets it again.
func (a *Agent) heartbeat(ctx context.Context, pc *platformConn) error {
	misses := 0
	var wait time.Duration
	for {
		if err := backoff.Sleep(ctx, wait); err != nil {
			return err
		}
		wait = pc.interval
		var resp cmpwire.HeartbeatResponse
		err := pc.ep.Do(ctx, "POST", "/v1/heartbeat", cmpwire.HeartbeatRequest{ESN: a.esn}, &resp)
		if err == nil {
			misses = 0
			if resp.HeartbeatIntervalSeconds > 0 {
				pc.interval = time.Duration(resp.HeartbeatIntervalSeconds) * time.Second
			}
			a.report(PhaseOnline, nil, 0)
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e, ok := regcenter.AsError(err); ok && e.Code == cmpwire.CodeNotRegistered {
			a.log.Info("the platform does not know this registration; registering again", "platform", pc.addr)
			if err := a.registerAt(ctx, pc); err != nil {
				return err
			}
			wait = 0
			continue
		}
		misses++
		a.retries++
		a.log.Warn("heartbeat failed", "platform", pc.addr, "misses", misses, "err", err)
		if misses >= a.cfg.HeartbeatMisses {
			return fmt.Errorf("%d heartbeats in a row failed: %w", misses, err)
		}
		a.report(PhaseRegistered, err, wait)
	}
}
