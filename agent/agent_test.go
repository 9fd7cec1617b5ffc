package agent_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/pki"
)

// unreachable is an address where nothing listens: registering there fails
// at once, which is all a test without a platform needs.
var unreachable = regcenter.Address{Host: "127.0.0.1", Port: 1}

// allHTTP2 fails unless every request the center saw was HTTP/2.
func allHTTP2(t *testing.T, c *centertest.Center) int {
	t.Helper()
	protos := c.Protocols()
	for _, p := range protos {
		if p != "HTTP/2.0" {
			t.Fatalf("the center saw %v, want HTTP/2.0 only", protos)
		}
	}
	return len(protos)
}

func TestTraditionalRetriesUntilClaimedThenPersistsCloudMode(t *testing.T) {
	w := newWorld(t, centertest.Options{}) // Retry-After 7s: the agent's cap must win
	dir := filepath.Join(t.TempDir(), "switch")
	var progress progressLog
	r := start(t, w.config(t, "SW-TRAD-1", dir, &progress, nil))

	progress.waitFor(t, "of a third unclaimed retry", func(p agent.Progress) bool {
		return p.Phase == agent.PhaseWaitingClaim && p.Retries >= 3
	})
	anchor := string(w.pki.PlatformCA.CertPEM())
	addrs := []regcenter.Address{unreachable, {Host: "cmp.example.net", Port: 10030}}
	w.claim(t, "cmp-a", addrs, anchor, "sw-trad-1")

	if err := r.wait(t); !errors.Is(err, agent.ErrRestart) {
		t.Fatalf("Run returned %v, want ErrRestart", err)
	}
	events := progress.all()
	waits := 0
	for _, p := range events {
		if p.ESN != "SW-TRAD-1" || p.Mode != regcenter.ModeTraditional && p.Phase != agent.PhaseRestarting {
			t.Fatalf("observation %+v: want ESN SW-TRAD-1 in traditional mode until it restarts", p)
		}
		if p.Phase != agent.PhaseWaitingClaim {
			continue
		}
		waits++
		e, ok := regcenter.AsError(p.Err)
		if !ok || e.Code != regcenter.CodeNotClaimed || e.RetryAfter != 7*time.Second {
			t.Errorf("waiting because of %v, want not_claimed with Retry-After 7s", p.Err)
		}
		if p.Wait > fastRetry.maxRetryAfter {
			t.Errorf("waited %v, more than MaxRetryAfter %v", p.Wait, fastRetry.maxRetryAfter)
		}
		if p.Wait < fastRetry.maxRetryAfter {
			t.Errorf("waited %v: the capped Retry-After (%v) is still a floor", p.Wait, fastRetry.maxRetryAfter)
		}
	}
	last := events[len(events)-1]
	if waits < 3 || last.Phase != agent.PhaseRestarting || last.Mode != regcenter.ModeCloud || last.Retries != waits {
		t.Errorf("%d unclaimed retries, last observation %+v; want >= 3 and restarting with as many retries", waits, last)
	}
	// Every retry and the answer reached the center, over HTTP/2.
	if n := allHTTP2(t, w.center); n < waits+1+2 { // +1 the answer, +2 the platform's PUT and upload
		t.Errorf("the center saw %d requests, want at least %d", n, waits+3)
	}

	s, err := agent.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.State{Mode: regcenter.ModeCloud, Source: agent.SourceCenter, PlatformID: "cmp-a", Addresses: addrs, TrustAnchor: anchor}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("state on disk\n%+v\nwant\n%+v", s, want)
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{agent.StateFile}) {
		t.Errorf("state directory holds %v: a temporary file was left", names)
	}
}

func TestRetryAfterIsAFloor(t *testing.T) {
	w := newWorld(t, centertest.Options{NotClaimedRetryAfter: time.Second})
	var progress progressLog
	cfg := w.config(t, "SW-FLOOR", t.TempDir(), &progress, nil)
	cfg.MaxRetryAfter = 0 // the center's word, uncapped
	r := start(t, cfg)

	first := progress.waitFor(t, "of the first unclaimed retry", func(p agent.Progress) bool { return p.Phase == agent.PhaseWaitingClaim })
	if first.Wait < time.Second {
		t.Fatalf("waits %v after Retry-After: 1, with a backoff of at most %v", first.Wait, fastRetry.policy.Max)
	}
	w.claim(t, "cmp-a", []regcenter.Address{unreachable}, "", "SW-FLOOR")
	if err := r.wait(t); !errors.Is(err, agent.ErrRestart) {
		t.Fatalf("Run returned %v, want ErrRestart", err)
	}
	events := progress.all()
	if last := events[len(events)-1]; last.At.Sub(first.At) < time.Second || last.Retries != 1 {
		t.Errorf("answered %v after the first refusal with %d retries; want one retry, no sooner than 1s", last.At.Sub(first.At), last.Retries)
	}
}

func TestRestartResumesFromDiskAndFollowsAMovedPlatform(t *testing.T) {
	w := newWorld(t, centertest.Options{})
	dir := t.TempDir()
	anchor := string(w.pki.PlatformCA.CertPEM())
	w.claim(t, "cmp-a", []regcenter.Address{unreachable}, anchor, "SW-RESTART")
	if err := start(t, w.config(t, "SW-RESTART", dir, nil, nil)).wait(t); !errors.Is(err, agent.ErrRestart) {
		t.Fatalf("first boot: %v, want ErrRestart", err)
	}

	// The platform moves while the switch restarts.
	moved := []regcenter.Address{{Host: "127.0.0.1", Port: 2}, {Host: "127.0.0.1", Port: 3}}
	w.claim(t, "cmp-a", moved, anchor)

	var progress progressLog
	cfg := w.config(t, "SW-RESTART", dir, &progress, nil)
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := a.State(); s.Mode != regcenter.ModeCloud || !slices.Equal(s.Addresses, []regcenter.Address{unreachable}) {
		t.Fatalf("a new agent on the same directory starts with %+v, want cloud mode and the remembered address", s)
	}
	r := runAgent(t, a)
	p := progress.waitFor(t, "of a failed registration", func(p agent.Progress) bool {
		return p.Phase == agent.PhaseRegistering && p.Err != nil
	})
	for _, addr := range moved {
		if !strings.Contains(p.Err.Error(), hostPort(addr)+": ") {
			t.Errorf("registration error %q does not name the new address %v", p.Err, addr)
		}
	}
	if strings.Contains(p.Err.Error(), "127.0.0.1:1:") {
		t.Errorf("registration error %q: the old address was tried", p.Err)
	}
	if err := r.stop(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v when stopped, want context.Canceled", err)
	}
	for _, p := range progress.all() {
		if p.Mode != regcenter.ModeCloud {
			t.Fatalf("after the restart: %+v, want cloud mode throughout", p)
		}
	}
	s, err := agent.Load(dir)
	if err != nil || !slices.Equal(s.Addresses, moved) || s.Registration != nil {
		t.Errorf("state after following the move: %+v, %v", s, err)
	}

	// The center answered the switch in both modes (in cloud mode once per
	// round of failed registrations).
	ctx := context.Background()
	if err := w.center.Recorder.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := w.pki.Client(t, w.center, w.pki.PlatformCert(t, "cmp-a")).Device(ctx, "SW-RESTART")
	if err != nil {
		t.Fatal(err)
	}
	if d.BootstrapCount < 2 || d.LastMode != regcenter.ModeCloud || d.LastSoftwareVersion != "V200R022C00" {
		t.Errorf("the center's record: %d bootstraps, last mode %q, version %q; want at least 2, cloud, V200R022C00", d.BootstrapCount, d.LastMode, d.LastSoftwareVersion)
	}
	allHTTP2(t, w.center)
}

func hostPort(a regcenter.Address) string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// cloudStateAt is a cloud-mode state that remembers a platform at addrs
// vouched for by anchor.
func cloudStateAt(t *testing.T, dir, anchor string, addrs ...regcenter.Address) {
	t.Helper()
	if err := agent.Save(dir, agent.State{Mode: regcenter.ModeCloud, Source: agent.SourceCenter, PlatformID: "cmp-a", Addresses: addrs, TrustAnchor: anchor}); err != nil {
		t.Fatal(err)
	}
}

// TestCloudModeRegistersWithTheRememberedPlatformWhenTheCenterIsDown also
// shows the other side of the trust anchor: a platform that chains to it
// is reached, over HTTP/2, with the device certificate, after an address
// that fails.
func TestCloudModeRegistersWithTheRememberedPlatformWhenTheCenterIsDown(t *testing.T) {
	w := newWorld(t, centertest.Options{})
	w.center.Stop()
	peer := newTLSPeer(t)
	dir := t.TempDir()
	cloudStateAt(t, dir, peer.anchor(), unreachable, peer.addr)
	var progress progressLog
	start(t, w.config(t, "SW-CLOUD-1", dir, &progress, nil))

	p := progress.waitFor(t, "of a registration refused by the peer", func(p agent.Progress) bool {
		return p.Phase == agent.PhaseRegistering && p.Err != nil
	})
	if !strings.Contains(p.Err.Error(), hostPort(unreachable)+": ") || !strings.Contains(p.Err.Error(), hostPort(peer.addr)+": ") {
		t.Errorf("registration error %q: want both addresses tried", p.Err)
	}
	_, reqs := peer.seen()
	if len(reqs) == 0 {
		t.Fatal("the peer that chains to the trust anchor saw no request")
	}
	if want := (peerRequest{"POST", "/v1/register", "HTTP/2.0", "SW-CLOUD-1"}); reqs[0] != want {
		t.Errorf("the peer saw %+v, want %+v", reqs[0], want)
	}
	asked := 0
	for _, p := range progress.all() {
		if p.Phase == agent.PhaseAskingCenter {
			asked++
		}
	}
	if asked == 0 {
		t.Error("the switch did not try the center first")
	}
}

func TestPlatformNotChainingToTheTrustAnchorIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		anchor  func(t *testing.T) string
		wantErr func(error) bool
	}{
		{"another CA", otherCA, func(err error) bool {
			var unknown x509.UnknownAuthorityError
			return errors.As(err, &unknown)
		}},
		// The center published no trust anchor: nothing to authenticate
		// the platform with, so no connection at all.
		{"no trust anchor", func(*testing.T) string { return "" }, func(err error) bool { return errors.Is(err, agent.ErrNoTrustAnchor) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, centertest.Options{})
			peer := newTLSPeer(t)
			dir := t.TempDir()
			cloudStateAt(t, dir, tc.anchor(t), peer.addr)
			var progress progressLog
			r := start(t, w.config(t, "SW-ANCHOR", dir, &progress, nil))

			progress.waitFor(t, "of a second refused registration", func(p agent.Progress) bool {
				return p.Phase == agent.PhaseRegistering && p.Retries >= 2
			})
			r.stop(t)
			for _, p := range progress.all() {
				if p.Phase == agent.PhaseRegistering && p.Err != nil && !tc.wantErr(p.Err) {
					t.Errorf("registration failed with %v", p.Err)
				}
				if p.Phase == agent.PhaseRegistered || p.Phase == agent.PhaseOnline {
					t.Fatalf("registered: %+v", p)
				}
			}
			conns, reqs := peer.seen()
			if len(reqs) != 0 {
				t.Errorf("requests reached the peer: %+v", reqs)
			}
			if tc.name == "no trust anchor" && conns != 0 {
				t.Errorf("%d connections to a platform that cannot be authenticated", conns)
			}
			if s, err := agent.Load(dir); err != nil || s.Registration != nil {
				t.Errorf("state: %+v, %v; want no registration", s, err)
			}
		})
	}
}

func TestOption148GoesStraightToThePlatform(t *testing.T) {
	w := newWorld(t, centertest.Options{})
	peer := newTLSPeer(t)
	dir := t.TempDir()
	opt := agent.Option148{ByIP: true, Address: peer.addr}
	cfg := w.config(t, "SW-148", dir, nil, nil)
	cfg.PlatformCA = peer.anchor()
	cfg.Discovery = agent.Static{Option148: opt.String()}

	r := start(t, cfg)
	if err := r.wait(t); !errors.Is(err, agent.ErrRestart) {
		t.Fatalf("first boot: %v, want ErrRestart", err)
	}
	s, err := agent.Load(dir)
	want := agent.State{Mode: regcenter.ModeCloud, Source: agent.SourceOption148, Addresses: []regcenter.Address{peer.addr}, TrustAnchor: peer.anchor()}
	if err != nil || !reflect.DeepEqual(s, want) {
		t.Fatalf("state after option 148: %+v, %v; want %+v", s, err, want)
	}

	// After the restart, still straight to the platform.
	var progress progressLog
	cfg.OnProgress = progress.add
	start(t, cfg)
	progress.waitFor(t, "of a registration attempt", func(p agent.Progress) bool { return p.Phase == agent.PhaseRegistering && p.Err != nil })
	if _, reqs := peer.seen(); len(reqs) == 0 || reqs[0] != (peerRequest{"POST", "/v1/register", "HTTP/2.0", "SW-148"}) {
		t.Errorf("the platform of option 148 saw %+v", reqs)
	}
	for _, p := range progress.all() {
		if p.Phase == agent.PhaseAskingCenter || p.Phase == agent.PhaseWaitingClaim {
			t.Errorf("observed %s", p.Phase)
		}
	}
	if protos := w.center.Protocols(); len(protos) != 0 {
		t.Errorf("the center was asked %d times", len(protos))
	}
}

func TestOption148IgnoredFallsBackToTheCenter(t *testing.T) {
	good := agent.Option148{Address: regcenter.Address{Host: "cmp.example.net", Port: 10020}}.String()
	for _, tc := range []struct {
		name, option148, platformCA, wantLog string
	}{
		{"malformed", "agilemode=agile-cloud;agilemanage-mode=ip;agilemanage-domain=cmp.example.net;agilemanage-port=10020", "x",
			"DHCP option 148 ignored: malformed"},
		{"no platform CA to verify its platform", good, "", "DHCP option 148 ignored: no preinstalled platform CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, centertest.Options{})
			var progress progressLog
			var logs bytes.Buffer
			cfg := w.config(t, "SW-148-BAD", t.TempDir(), &progress, &logs)
			cfg.Discovery = agent.Static{Option148: tc.option148}
			if tc.platformCA != "" {
				cfg.PlatformCA = string(w.pki.PlatformCA.CertPEM())
			}
			r := start(t, cfg)
			progress.waitFor(t, "of an unclaimed answer", func(p agent.Progress) bool { return p.Phase == agent.PhaseWaitingClaim })
			r.stop(t)
			if n := allHTTP2(t, w.center); n == 0 {
				t.Error("the center was not asked")
			}
			var line string
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, tc.wantLog) {
					line = l
				}
			}
			if !strings.Contains(line, "level=WARN") {
				t.Errorf("no warning %q in the log:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

func TestESNFromTheCertificate(t *testing.T) {
	ca, err := pki.NewCA("Test Device CA", pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueDevice("sw-esn-1", pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	if esn, err := agent.ESN(cert); err != nil || esn != "SW-ESN-1" {
		t.Errorf("ESN %q, %v; want SW-ESN-1", esn, err)
	}
	// Without a subject serialNumber, the CN, as the center reads it.
	cert.Leaf.Subject = pkix.Name{CommonName: "cn-only.7"}
	if esn, err := agent.ESN(cert); err != nil || esn != "CN-ONLY.7" {
		t.Errorf("ESN %q, %v; want CN-ONLY.7", esn, err)
	}
	cert.Leaf.Subject = pkix.Name{CommonName: "not an ESN"}
	if _, err := agent.ESN(cert); err == nil {
		t.Error("a CN with spaces was taken as an ESN")
	}
}

func TestNewRefusesACorruptState(t *testing.T) {
	w := newWorld(t, centertest.Options{})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, agent.StateFile), []byte(`{"version":1,"mode":"cloud"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.New(w.config(t, "SW-CORRUPT", dir, nil, nil)); !errors.Is(err, agent.ErrCorruptState) {
		t.Errorf("New: %v, want ErrCorruptState", err)
	}
}
