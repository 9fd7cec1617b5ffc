package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/agent/fleet"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/pki"
)

// diskPKI makes a PKI directory, as 'regcenter pki init' does: the fleet
// reads its device CA from disk, the center trusts it.
func diskPKI(t *testing.T) (pki.Dir, *centertest.PKI) {
	t.Helper()
	dir := pki.Dir(t.TempDir())
	if err := pki.Init(dir, []string{"127.0.0.1", "localhost"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir, centertest.LoadPKI(t, dir)
}

var unreachable = regcenter.Address{Host: "127.0.0.1", Port: 1}

// claim uploads esns for platform cmp-fleet, which is at unreachable.
func claim(t *testing.T, p *centertest.PKI, c *centertest.Center, esns []string) {
	t.Helper()
	cl := p.Client(t, c, p.PlatformCert(t, "cmp-fleet"))
	ctx := context.Background()
	if _, err := cl.PutPlatform(ctx, []regcenter.Address{unreachable}, string(p.PlatformCA.CertPEM())); err != nil {
		t.Fatal(err)
	}
	items := make([]regcenter.DeviceUpload, len(esns))
	for i, esn := range esns {
		items[i] = regcenter.DeviceUpload{ESN: esn, DeviceType: agent.DefaultDeviceType}
	}
	rep, err := cl.UploadDevices(ctx, items)
	if err != nil || rep.Counts.Created != len(esns) {
		t.Fatalf("upload: %+v, %v", rep.Counts, err)
	}
}

func fastConfig(dir pki.Dir, c *centertest.Center, count int) fleet.Config {
	return fleet.Config{
		PKI: dir, Count: count, ESNPrefix: "FLT", CenterURL: c.URL,
		Retry: backoff.Policy{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}, MaxRetryAfter: 20 * time.Millisecond,
		Timeout: 20 * time.Second, ProgressInterval: 20 * time.Millisecond,
	}
}

// poll waits until ok holds for the fleet's snapshot.
func poll(t *testing.T, f *fleet.Fleet, what string, ok func(fleet.Summary) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok(f.Snapshot()) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("not %s within 10s: %s", what, f.Snapshot().Line())
}

func TestFleetReachesCloudModeAgainstARealCenter(t *testing.T) {
	const n = 20
	dir, p := diskPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	esns, err := pki.FleetESNs("FLT", n)
	if err != nil {
		t.Fatal(err)
	}
	// Half the fleet is claimed before it boots, half only once those
	// switches have been told to wait.
	claim(t, p, c, esns[:n/2])

	// Read only once the fleet stopped, which stops its progress writer.
	var progress bytes.Buffer
	var mu sync.Mutex
	observed := map[string]int{}
	cfg := fastConfig(dir, c, n)
	cfg.StateDir = t.TempDir()
	cfg.Until = agent.PhaseRegistering
	cfg.Progress = &progress
	cfg.OnProgress = func(p agent.Progress) {
		mu.Lock()
		observed[p.ESN]++
		mu.Unlock()
	}
	f, err := fleet.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, f, "the late half waiting for a claim", func(s fleet.Summary) bool {
		for _, sw := range s.Switches[n/2:] {
			if sw.Phase != agent.PhaseWaitingClaim {
				return false
			}
		}
		return true
	})
	claim(t, p, c, esns[n/2:])

	sum, err := f.Wait()
	if err != nil {
		t.Fatalf("%v\n%s", err, sum.Line())
	}
	if sum.Count != n || sum.Reached != n || sum.Modes[regcenter.ModeCloud] != n || sum.Restarts != n || sum.Stopped != 0 {
		t.Errorf("summary: %d switches, %d reached registering, modes %v, %d restarts, %d stopped; want %d, %d, all cloud, %d, 0",
			sum.Count, sum.Reached, sum.Modes, sum.Restarts, sum.Stopped, n, n, n)
	}
	if sum.Registered != 0 || sum.AllRegistered() {
		t.Errorf("%d registered with no platform to register with", sum.Registered)
	}
	for i, sw := range sum.Switches {
		if sw.ESN != esns[i] || sw.StateDir != filepath.Join(cfg.StateDir, esns[i]) {
			t.Fatalf("switch %d: %s in %s", i, sw.ESN, sw.StateDir)
		}
		if i >= n/2 && sw.Retries < 1 {
			t.Errorf("%s, claimed late, did not retry", sw.ESN)
		}
		s, err := agent.Load(sw.StateDir)
		if err != nil || s.Mode != regcenter.ModeCloud || s.PlatformID != "cmp-fleet" || !slices.Equal(s.Addresses, []regcenter.Address{unreachable}) {
			t.Errorf("%s: state %+v, %v", sw.ESN, s, err)
		}
		if _, err := os.Stat(dir.DeviceCert(sw.ESN)); err != nil {
			t.Errorf("%s: device certificate not issued into the PKI: %v", sw.ESN, err)
		}
		if observed[sw.ESN] == 0 {
			t.Errorf("%s: OnProgress never called", sw.ESN)
		}
	}
	for _, proto := range c.Protocols() {
		if proto != "HTTP/2.0" {
			t.Fatalf("the center saw %s", proto)
		}
	}

	out := progress.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 2 || strings.Contains(out, "\r") || !strings.HasPrefix(lines[0], "fleet ") {
		t.Errorf("progress on a non-terminal: want plain lines, got %q", out)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "0/20 registered") || !strings.Contains(last, "restarts 20") {
		t.Errorf("last progress line %q", last)
	}
}

func TestFleetTimeoutAndConcurrency(t *testing.T) {
	dir, p := diskPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	var progress bytes.Buffer
	cfg := fastConfig(dir, c, 4)
	cfg.StateDir = t.TempDir()
	cfg.Concurrency = 2 // nobody is claimed: two switches hold their places to the end
	cfg.Timeout = 300 * time.Millisecond
	cfg.Progress, cfg.Terminal = &progress, true

	start := time.Now()
	sum, err := fleet.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "4 of 4 switches did not reach registered within 300ms") {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("a 300ms fleet ran %v", elapsed)
	}
	// The timeout may catch a switch in the middle of asking again.
	if sum.Phases[""] != 2 || sum.Phases[agent.PhaseWaitingClaim]+sum.Phases[agent.PhaseAskingCenter] != 2 || sum.Retries < 2 {
		t.Errorf("phases %v, %d retries; want 2 not booted, 2 asking the center, retrying", sum.Phases, sum.Retries)
	}
	var text strings.Builder
	if err := sum.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fleet: 0 of 4 switches registered", "by state: not booted 2, ", "by mode: traditional 2", "not_claimed"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
	if out := progress.String(); !strings.HasPrefix(out, "\rfleet ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("progress on a terminal: want one line rewritten with \\r, got %q", out)
	}
}

func TestFleetSwitchWithACorruptStateStops(t *testing.T) {
	dir, p := diskPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	cfg := fastConfig(dir, c, 2)
	cfg.StateDir = t.TempDir()
	cfg.Until = agent.PhaseWaitingClaim
	bad := filepath.Join(cfg.StateDir, "FLT0001")
	if err := os.MkdirAll(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, agent.StateFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 2 * time.Second
	sum, err := fleet.Run(context.Background(), cfg)
	if err == nil {
		t.Fatal("a fleet with a switch that cannot boot succeeded")
	}
	sw := sum.Switches[1]
	if sum.Stopped != 1 || !errors.Is(sw.Stopped, agent.ErrCorruptState) || sum.Reached != 1 {
		t.Errorf("stopped %d, FLT0001 stopped with %v, reached %d; want 1, ErrCorruptState, 1", sum.Stopped, sw.Stopped, sum.Reached)
	}
}

func TestFleetRefusesBadConfig(t *testing.T) {
	dir, p := diskPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	for _, tc := range []struct {
		name string
		edit func(*fleet.Config)
	}{
		{"no state dir", func(cfg *fleet.Config) { cfg.StateDir = "" }},
		{"no count", func(cfg *fleet.Config) { cfg.Count = 0 }},
		{"too many", func(cfg *fleet.Config) { cfg.Count = pki.MaxFleetSize + 1 }},
		{"unknown phase", func(cfg *fleet.Config) { cfg.Until = "flying" }},
		{"no PKI there", func(cfg *fleet.Config) { cfg.PKI = pki.Dir(t.TempDir()) }},
	} {
		cfg := fastConfig(dir, c, 2)
		cfg.StateDir = t.TempDir()
		tc.edit(&cfg)
		if _, err := fleet.Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: ran", tc.name)
		}
	}
}
