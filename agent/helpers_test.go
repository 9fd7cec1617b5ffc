package agent_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/pki"
)

// fastRetry keeps every test in seconds: the center's Retry-After (7s in
// centertest) is capped at 20ms.
var fastRetry = struct {
	policy        backoff.Policy
	maxRetryAfter time.Duration
}{backoff.Policy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}, 20 * time.Millisecond}

// world is a real center and a platform's client of it.
type world struct {
	pki    *centertest.PKI
	center *centertest.Center
}

func newWorld(t *testing.T, opts centertest.Options) *world {
	t.Helper()
	p := centertest.NewPKI(t)
	return &world{pki: p, center: centertest.Start(t, p, opts)}
}

// claim has platform id publish addrs and anchor and claim esns, as a
// platform does through the center's API.
func (w *world) claim(t *testing.T, id string, addrs []regcenter.Address, anchor string, esns ...string) {
	t.Helper()
	cl := w.pki.Client(t, w.center, w.pki.PlatformCert(t, id))
	ctx := context.Background()
	if _, err := cl.PutPlatform(ctx, addrs, anchor); err != nil {
		t.Fatal(err)
	}
	if len(esns) == 0 {
		return
	}
	items := make([]regcenter.DeviceUpload, len(esns))
	for i, esn := range esns {
		items[i] = regcenter.DeviceUpload{ESN: esn, DeviceType: agent.DefaultDeviceType}
	}
	rep, err := cl.UploadDevices(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts.Created+rep.Counts.Unchanged != len(esns) {
		t.Fatalf("upload: %+v", rep.Counts)
	}
}

// config is an agent's configuration against w's center, with fast
// retries, its progress into progress and its log lines into logs (which
// only the agent's goroutine writes: read it once Run returned).
func (w *world) config(t *testing.T, esn, dir string, progress *progressLog, logs io.Writer) agent.Config {
	t.Helper()
	cfg := agent.Config{
		StateDir: dir, Certificate: w.pki.DeviceCert(t, esn), CenterURL: w.center.URL, CenterRoots: w.pki.Roots,
		SoftwareVersion: "V200R022C00", Retry: fastRetry.policy, MaxRetryAfter: fastRetry.maxRetryAfter,
		RequestTimeout: 5 * time.Second,
	}
	if progress != nil {
		cfg.OnProgress = progress.add
	}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// running is an agent's Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // what Run returned, once done is closed
}

// start runs a new agent made from cfg in the background until the test
// ends.
func start(t *testing.T, cfg agent.Config) *running {
	t.Helper()
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return runAgent(t, a)
}

func runAgent(t *testing.T, a *agent.Agent) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = a.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// wait waits for Run to return by itself.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s")
		return nil
	}
}

// stop ends Run's context and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// progressLog records every observation of an agent.
type progressLog struct {
	mu     sync.Mutex
	events []agent.Progress
}

func (l *progressLog) add(p agent.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, p)
}

func (l *progressLog) all() []agent.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]agent.Progress(nil), l.events...)
}

// waitFor polls until an observation satisfies ok, and returns it.
func (l *progressLog) waitFor(t *testing.T, what string, ok func(agent.Progress) bool) agent.Progress {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range l.all() {
			if ok(p) {
				return p
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no observation %s within 10s; saw %+v", what, l.all())
	return agent.Progress{}
}

// tlsPeer is a real HTTPS server (HTTP/2) at which the agent may try to
// register: not a platform, only a TLS peer that records what reached it
// and answers 503, to show whom the agent trusts.
type tlsPeer struct {
	addr regcenter.Address
	ca   *pki.CA // the CA of its server certificate

	mu       sync.Mutex
	conns    int
	requests []peerRequest
}

type peerRequest struct{ method, path, proto, clientSerial string }

func newTLSPeer(t *testing.T) *tlsPeer {
	t.Helper()
	ca, err := pki.NewCA("Test Platform Server CA", pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	cert := centertest.Certificate(t, func() (pki.KeyPair, error) {
		return ca.IssueServer([]string{"127.0.0.1"}, pki.ValidFor(time.Now(), 1))
	})
	peer := &tlsPeer{ca: ca}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := peerRequest{method: r.Method, path: r.URL.Path, proto: r.Proto}
		if len(r.TLS.PeerCertificates) > 0 {
			req.clientSerial = r.TLS.PeerCertificates[0].Subject.SerialNumber
		}
		peer.mu.Lock()
		peer.requests = append(peer.requests, req)
		peer.mu.Unlock()
		http.Error(w, "a TLS peer, not a platform", http.StatusServiceUnavailable)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert}
	// The refusals the tests provoke are the point, not noise for the log.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			peer.mu.Lock()
			peer.conns++
			peer.mu.Unlock()
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer.addr.Host = host
	peer.addr.Port, _ = strconv.Atoi(port)
	return peer
}

func (p *tlsPeer) seen() (conns int, requests []peerRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns, append([]peerRequest(nil), p.requests...)
}

// anchor is the PEM of the CA that vouches for the peer.
func (p *tlsPeer) anchor() string { return string(p.ca.CertPEM()) }

// otherCA is the PEM of a CA that vouches for nothing the test serves.
func otherCA(t *testing.T) string {
	t.Helper()
	ca, err := pki.NewCA("Unrelated CA", pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	return string(ca.CertPEM())
}
