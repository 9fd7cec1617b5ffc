// Package e2e_test runs the whole onboarding flow of the three parties in
// one process: a real center, the reference platform and switch agents,
// each over real TLS listeners on 127.0.0.1 with HTTP/2, real SQLite files,
// certificates read from a PKI directory as the commands read them.
package e2e_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/cmp/cmpclient"
	"github.com/regcenter/regcenter/cmp/cmpserver"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/pki"
)

const platformID = "cmp-e2e"

// fast is the retry pacing of every party in these tests: the same
// settings an operator has, only short.
var fast = backoff.Policy{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond}

// protocols records the protocol of every request a server saw.
type protocols struct {
	mu   sync.Mutex
	seen []string
}

func (p *protocols) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Proto)
		p.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (p *protocols) wantHTTP2(t *testing.T, who string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) == 0 {
		t.Fatalf("%s saw no request", who)
	}
	for _, proto := range p.seen {
		if proto != "HTTP/2.0" {
			t.Fatalf("%s saw a request over %s", who, proto)
		}
	}
}

// world is the three parties of one test.
type world struct {
	dir      pki.Dir
	pki      *centertest.PKI
	center   *centertest.Center
	platform *cmpserver.Platform
	admin    *cmpclient.Admin
	dataDir  string
	platProt protocols
}

func newWorld(t *testing.T) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{dir: pki.Dir(filepath.Join(root, "pki")), dataDir: filepath.Join(root, "platform")}
	now := time.Now()
	hosts := []string{"localhost", "127.0.0.1"}
	if err := pki.Init(w.dir, hosts, now); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssuePlatform(w.dir, platformID, now); err != nil {
		t.Fatal(err)
	}
	if err := pki.IssuePlatformServer(w.dir, platformID, hosts, now); err != nil {
		t.Fatal(err)
	}
	w.pki = centertest.LoadPKI(t, w.dir)
	w.center = centertest.Start(t, w.pki, centertest.Options{NotClaimedRetryAfter: time.Second, FlushInterval: 50 * time.Millisecond})
	w.startPlatform(t, "127.0.0.1:0")
	return w
}

func (w *world) startPlatform(t *testing.T, listen string) {
	t.Helper()
	cfg := cmpserver.Config{
		CenterURL: w.center.URL, DataDir: w.dataDir, Listen: listen,
		HeartbeatInterval: 200 * time.Millisecond, Retry: fast, SyncInterval: time.Second,
		WrapDevices: w.platProt.wrap,
	}
	if err := cmpserver.PKIFiles(w.dir, platformID).Load(&cfg); err != nil {
		t.Fatal(err)
	}
	p, err := cmpserver.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.stop(p) })
	w.platform = p
	if w.admin, err = cmpclient.NewAdmin(p.AdminURL); err != nil {
		t.Fatal(err)
	}
}

func (w *world) stop(p *cmpserver.Platform) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.Shutdown(ctx)
}

func (w *world) importESNs(t *testing.T, esns ...string) {
	t.Helper()
	csv := "esn,device_type\n"
	for _, esn := range esns {
		csv += esn + ",S5735-L24T4S-A\n"
	}
	rep, err := w.admin.ImportCSV(context.Background(), strings.NewReader(csv))
	if err != nil || rep.Imported != len(esns) {
		t.Fatalf("import of %d: %+v, %v", len(esns), rep, err)
	}
}

// adminDevice returns what the platform shows of esn.
func (w *world) adminDevice(t *testing.T, esn string) cmpwire.AdminDevice {
	t.Helper()
	devs, err := w.admin.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.ESN == esn {
			return d
		}
	}
	t.Fatalf("the platform does not list %s", esn)
	return cmpwire.AdminDevice{}
}

// eventually polls cond until it holds, failing the test after 20s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// switchUnit is one switch: its certificate, its state directory, and the
// agent of its current boot.
type switchUnit struct {
	esn      string
	stateDir string
	cert     tls.Certificate

	mu       sync.Mutex
	progress []agent.Progress
	logs     strings.Builder // what the agent logged, under mu
}

func (s *switchUnit) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.Write(p)
}

func (s *switchUnit) logged(substr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Contains(s.logs.String(), substr)
}

func (w *world) newSwitch(t *testing.T, esn string) *switchUnit {
	t.Helper()
	if err := pki.IssueDevice(w.dir, esn, time.Now()); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(w.dir.DeviceCert(esn), w.dir.DeviceKey(esn))
	if err != nil {
		t.Fatal(err)
	}
	return &switchUnit{esn: esn, stateDir: filepath.Join(t.TempDir(), esn), cert: cert}
}

func (s *switchUnit) observe(p agent.Progress) {
	s.mu.Lock()
	s.progress = append(s.progress, p)
	s.mu.Unlock()
}

// count is how many observations so far satisfy cond.
func (s *switchUnit) count(cond func(agent.Progress) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.progress {
		if cond(p) {
			n++
		}
	}
	return n
}

// seen reports whether any observation so far satisfies cond.
func (s *switchUnit) seen(cond func(agent.Progress) bool) bool { return s.count(cond) > 0 }

// boot runs the switch until it restarts (returning agent.ErrRestart) or
// ctx ends; each call is a new boot made from the state directory only.
func (w *world) boot(ctx context.Context, t *testing.T, s *switchUnit) error {
	t.Helper()
	a, err := agent.New(agent.Config{
		StateDir: s.stateDir, Certificate: s.cert, CenterURL: w.center.URL, CenterRoots: w.pki.Roots,
		Retry: fast, MaxRetryAfter: 200 * time.Millisecond, OnProgress: s.observe,
		Logger: slog.New(slog.NewTextHandler(s, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a.Run(ctx)
}

// runUntil boots the switch, restarting it as the agent asks, until cond
// holds for an observation; then it stops the switch.
func (w *world) runUntil(t *testing.T, s *switchUnit, what string, cond func(agent.Progress) bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := w.start(ctx, t, s)
	eventually(t, what, func() bool { return s.seen(cond) })
	cancel()
	<-done
}

// start runs the switch in the background, restarting it as the agent
// asks (each boot a new agent from the state directory), until ctx ends;
// the channel then delivers why the last boot stopped.
func (w *world) start(ctx context.Context, t *testing.T, s *switchUnit) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if err := w.boot(ctx, t, s); err != agent.ErrRestart {
				done <- err
				return
			}
		}
	}()
	return done
}

func registered(p agent.Progress) bool {
	return p.Phase == agent.PhaseRegistered || p.Phase == agent.PhaseOnline
}

func online(p agent.Progress) bool { return p.Phase == agent.PhaseOnline }

func restarting(p agent.Progress) bool { return p.Phase == agent.PhaseRestarting }

func TestFiveStepFlow(t *testing.T) {
	w := newWorld(t)
	esns := []string{"2102113374P0F4000046", "2102113374P0F4000047", "2102113374P0F4000048"}
	// 1-2: the administrator imports; the platform uploads to the center.
	w.importESNs(t, esns...)
	eventually(t, "the platform's devices claimed at the center", func() bool {
		for _, esn := range esns {
			if w.adminDevice(t, esn).State != cmpwire.StateClaimed {
				return false
			}
		}
		return true
	})

	// 3-5: each switch asks, restarts in cloud mode, asks again, registers.
	for _, esn := range esns {
		s := w.newSwitch(t, esn)
		w.runUntil(t, s, esn+" online", online)

		st, err := agent.Load(s.stateDir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode != regcenter.ModeCloud || st.Source != agent.SourceCenter || st.PlatformID != platformID || len(st.Addresses) != 1 ||
			st.Addresses[0].Port == 0 || st.TrustAnchor == "" || st.Registration == nil || st.Registration.PlatformID != platformID {
			t.Fatalf("%s's state on disk: %+v", esn, st)
		}
		if !s.seen(restarting) {
			t.Errorf("%s never restarted", esn)
		}
	}

	// The state of the center: each switch asked twice, the last time in
	// cloud mode.
	if err := w.center.Recorder.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, esn := range esns {
		d, err := w.center.DB.Device(context.Background(), platformID, esn)
		if err != nil || d.BootstrapCount < 2 || d.LastMode != regcenter.ModeCloud {
			t.Errorf("the center's record of %s: %+v, %v", esn, d, err)
		}
	}
	// The state of the platform: registered (online while heartbeating),
	// with the center's events seen.
	eventually(t, "the platform saw the switches' questions to the center", func() bool {
		for _, esn := range esns {
			if d := w.adminDevice(t, esn); d.CenterQueries < 2 || d.RegisteredAt == nil {
				return false
			}
		}
		return true
	})
	for _, esn := range esns {
		if d := w.adminDevice(t, esn); d.RemoteAddr == "" || !strings.HasPrefix(d.RemoteAddr, "127.0.0.1:") {
			t.Errorf("the platform's record of %s: %+v", esn, d)
		}
	}
	// Every leg spoke HTTP/2.
	for _, proto := range w.center.Protocols() {
		if proto != "HTTP/2.0" {
			t.Fatalf("the center saw a request over %s", proto)
		}
	}
	w.platProt.wantHTTP2(t, "the platform's device API")
}

func TestSwitchBootsBeforeItsImport(t *testing.T) {
	w := newWorld(t)
	s := w.newSwitch(t, "EARLY-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := w.start(ctx, t, s)
	eventually(t, "the switch is told not_claimed and retries", func() bool {
		return s.seen(func(p agent.Progress) bool { return p.Phase == agent.PhaseWaitingClaim && p.Retries >= 2 })
	})
	w.importESNs(t, "EARLY-1")
	eventually(t, "the switch registers after its import", func() bool { return s.seen(registered) })
	cancel()
	<-done
	if d := w.adminDevice(t, "EARLY-1"); d.RegisteredAt == nil {
		t.Errorf("the platform's record: %+v", d)
	}
}

func TestSwitchFollowsThePlatformWhenItMoves(t *testing.T) {
	w := newWorld(t)
	w.importESNs(t, "MOVER-1")
	s := w.newSwitch(t, "MOVER-1")
	w.runUntil(t, s, "registered at the first address", registered)
	oldAddr := w.platform.DeviceAddr

	// The platform moves: it restarts on another port with the same data,
	// and publishes its new address at the center on start.
	w.stop(w.platform)
	w.startPlatform(t, "127.0.0.1:0")
	if w.platform.DeviceAddr == oldAddr {
		t.Fatal("the platform came back on the same address")
	}
	newPort := w.platform.DeviceAddr[strings.LastIndex(w.platform.DeviceAddr, ":")+1:]

	// The switch's next boot (its next restart) follows the center's answer.
	s.mu.Lock()
	s.progress = nil
	s.mu.Unlock()
	w.runUntil(t, s, "registered at the new address", func(p agent.Progress) bool {
		return registered(p) && p.Platform.Host+":"+strconv.Itoa(p.Platform.Port) == "127.0.0.1:"+newPort
	})
	st, err := agent.Load(s.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Addresses[0]; strconv.Itoa(got.Port) != newPort {
		t.Errorf("the state dir still holds %+v", got)
	}
}

func TestSwitchRefusesAPlatformOutsideItsTrustAnchor(t *testing.T) {
	w := newWorld(t)
	// The platform's upload points this switch at the center's own API:
	// a TLS server whose certificate does not chain to the trust anchor
	// the center hands out (the platform CA).
	other := w.pki.Client(t, w.center, w.pki.PlatformCert(t, "cmp-other"))
	host, portText, _ := net.SplitHostPort(w.center.Addr)
	port, _ := strconv.Atoi(portText)
	rep, err := other.UploadDevices(context.Background(), []regcenter.DeviceUpload{{ESN: "WARY-1", DeviceType: "S5735", Addresses: []regcenter.Address{{Host: host, Port: port}}}})
	if err != nil || rep.Counts.Created != 1 {
		t.Fatalf("upload: %+v, %v", rep, err)
	}
	if _, err := other.PutPlatform(context.Background(), []regcenter.Address{{Host: "127.0.0.1", Port: 1}}, string(w.pki.PlatformCA.CertPEM())); err != nil {
		t.Fatal(err)
	}

	s := w.newSwitch(t, "WARY-1")
	w.runUntil(t, s, "a refused registration", func(p agent.Progress) bool {
		return p.Phase == agent.PhaseRegistering && p.Err != nil && p.Retries >= 2 &&
			strings.Contains(p.Err.Error(), "certificate signed by unknown authority")
	})
	if s.seen(registered) {
		t.Fatal("the switch registered with a server outside its trust anchor")
	}
}

// TestRunningSwitchFollowsAMovedPlatform: the platform moves while the
// switch runs; its heartbeats fail, it asks the center again and registers
// at the new address without a restart.
func TestRunningSwitchFollowsAMovedPlatform(t *testing.T) {
	w := newWorld(t)
	w.importESNs(t, "RUNNER-1")
	s := w.newSwitch(t, "RUNNER-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := w.start(ctx, t, s)
	eventually(t, "online at the first address", func() bool { return s.seen(online) })

	w.stop(w.platform)
	w.startPlatform(t, "127.0.0.1:0")
	newAddr := w.platform.DeviceAddr
	restartsBefore := s.count(restarting)
	eventually(t, "online at the new address", func() bool {
		return s.seen(func(p agent.Progress) bool {
			return online(p) && net.JoinHostPort(p.Platform.Host, strconv.Itoa(p.Platform.Port)) == newAddr
		})
	})
	cancel()
	<-done
	restartsAfter := s.count(restarting)
	if restartsAfter != restartsBefore {
		t.Errorf("the switch restarted to follow the platform (%d restarts, %d before)", restartsAfter, restartsBefore)
	}
	if d := w.adminDevice(t, "RUNNER-1"); d.State != cmpwire.StateOnline && d.State != cmpwire.StateRegistered && d.State != cmpwire.StateOffline {
		t.Errorf("the platform's record after the move: %+v", d)
	}
}

// TestSwitchRegistersAgainWhenThePlatformForgotIt: the administrator
// deletes a running switch and imports it again; the platform then
// answers its heartbeats not_registered, and the switch registers anew.
func TestSwitchRegistersAgainWhenThePlatformForgotIt(t *testing.T) {
	w := newWorld(t)
	w.importESNs(t, "FORGOT-1")
	s := w.newSwitch(t, "FORGOT-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := w.start(ctx, t, s)
	eventually(t, "online", func() bool { return s.seen(online) })
	first := w.adminDevice(t, "FORGOT-1").RegisteredAt

	if err := w.admin.Delete(context.Background(), "FORGOT-1"); err != nil {
		t.Fatal(err)
	}
	w.importESNs(t, "FORGOT-1")
	eventually(t, "registered again", func() bool {
		d := w.adminDevice(t, "FORGOT-1")
		return d.RegisteredAt != nil && first != nil && d.RegisteredAt.After(*first)
	})
	cancel()
	<-done
	if !s.logged("registering again") {
		t.Errorf("the switch registered again without being told not_registered; its log:\n%s", s.logs.String())
	}
}
