package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// switchWorld is a real center serving a PKI made by the real commands,
// with a platform that claims devices at an address where nothing listens
// (this switch tests have no platform to register with).
type switchWorld struct {
	dir    pki.Dir
	center string // https://host:port
}

const switchPlatform = "cmp-cli"

var nowhere = regcenter.Address{Host: "127.0.0.1", Port: 1}

func newSwitchWorld(t *testing.T, esns ...string) *switchWorld {
	t.Helper()
	dir := initPKI(t)
	if out, err := runCLI(t, "pki", "issue", "platform", "--dir", string(dir), "--id", switchPlatform); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, esn := range esns {
		if out, err := runCLI(t, "pki", "issue", "device", "--dir", string(dir), "--esn", esn); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	api, _, _ := startServe(t, "--pki", string(dir), "--store", "sqlite:"+filepath.Join(t.TempDir(), "center.db"),
		"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--not-claimed-retry-after", "1s")
	return &switchWorld{dir: dir, center: "https://" + api}
}

// platform is the platform's client of the center.
func (w *switchWorld) platform(t *testing.T) *client.Center {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(w.dir.PlatformCert(switchPlatform), w.dir.PlatformKey(switchPlatform))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := mtls.LoadPool(w.dir.CenterCACert())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{URL: w.center, Certificate: cert, Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func (w *switchWorld) claim(t *testing.T, esns ...string) {
	t.Helper()
	c := w.platform(t)
	ctx := context.Background()
	// Any CA will do as the trust anchor: nothing listens at the address.
	anchor, err := os.ReadFile(w.dir.PlatformCACert())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutPlatform(ctx, []regcenter.Address{nowhere}, string(anchor)); err != nil {
		t.Fatal(err)
	}
	var items []regcenter.DeviceUpload
	for _, esn := range esns {
		items = append(items, regcenter.DeviceUpload{ESN: esn, DeviceType: agent.DefaultDeviceType})
	}
	if rep, err := c.UploadDevices(ctx, items); err != nil || rep.Counts.Created != len(esns) {
		t.Fatalf("upload: %+v, %v", rep.Counts, err)
	}
}

// runArgs are the flags of 'switch run' for esn, fast.
func (w *switchWorld) runArgs(esn, state string) []string {
	return []string{"switch", "run", "--state", state, "--cert", w.dir.DeviceCert(esn), "--key", w.dir.DeviceKey(esn),
		"--center-ca", w.dir.CenterCACert(), "--center", w.center,
		"--retry-initial", "5ms", "--retry-max", "20ms", "--max-retry-after", "20ms", "--software-version", "V200R022C00"}
}

// TestSwitchRunRestartsByExec runs 'switch run' as a real process: once
// the center answers, the agent persists cloud mode and executes itself
// again (same pid, new program), and the new program knows it is in cloud
// mode from the state directory alone. SIGTERM then stops it cleanly.
func TestSwitchRunRestartsByExec(t *testing.T) {
	w := newSwitchWorld(t, "SW-EXEC-1")
	w.claim(t, "SW-EXEC-1")
	state := filepath.Join(t.TempDir(), "state")

	cmd := regcenterCommand(w.runArgs("SW-EXEC-1", state)...)
	var stderr syncBuffer // written by exec's copying goroutine
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	// The second program registers (and fails: nothing listens there).
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "registration failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no registration attempt within 20s:\n%s", stderr.String())
		}
		select {
		case <-exited:
			t.Fatalf("the switch exited: %v\n%s", exitErr, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	logs := stderr.String()
	starts := regexp.MustCompile(`msg="switch agent starting" pid=(\d+)`).FindAllStringSubmatch(logs, -1)
	boots := regexp.MustCompile(`msg="switch booting" esn=SW-EXEC-1 mode=(\w+)`).FindAllStringSubmatch(logs, -1)
	pid := fmt.Sprint(cmd.Process.Pid)
	if len(starts) != 2 || starts[0][1] != pid || starts[1][1] != pid {
		t.Errorf("starts %v, want two in process %s", starts, pid)
	}
	if len(boots) != 2 || boots[0][1] != "traditional" || boots[1][1] != "cloud" {
		t.Errorf("boots %v, want traditional then cloud", boots)
	}
	if !strings.Contains(logs, "restarting: executing the agent again") {
		t.Errorf("no restart in the log:\n%s", logs)
	}
	s, err := agent.Load(state)
	if err != nil || s.Mode != regcenter.ModeCloud || s.PlatformID != switchPlatform || !slices.Equal(s.Addresses, []regcenter.Address{nowhere}) {
		t.Errorf("state %+v, %v", s, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0\n%s", exitErr, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the switch did not stop within 10s of SIGTERM")
	}
}

// TestSwitchRunWaitsForClaimInProcess runs the command in-process with a
// restarter that records the restart instead of executing: the switch
// retries until claimed, then asks to restart with cloud mode persisted.
func TestSwitchRunWaitsForClaimInProcess(t *testing.T) {
	w := newSwitchWorld(t, "SW-RUN-2")
	state := t.TempDir()
	var logs syncBuffer
	restarted := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runSwitchAgent(context.Background(), w.runArgs("SW-RUN-2", state)[2:], &logs, func() error {
			close(restarted)
			return nil
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "no platform has claimed this switch yet") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 refusals within 10s:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.claim(t, "SW-RUN-2")
	select {
	case <-restarted:
	case <-time.After(10 * time.Second):
		t.Fatalf("no restart within 10s:\n%s", logs.String())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s, err := agent.Load(state); err != nil || s.Mode != regcenter.ModeCloud {
		t.Errorf("state %+v, %v", s, err)
	}
	if !strings.Contains(logs.String(), "retry_after=1s") {
		t.Errorf("the center's Retry-After is not in the log:\n%s", logs.String())
	}
}

func TestSwitchReset(t *testing.T) {
	state := t.TempDir()
	if err := agent.Save(state, agent.State{Mode: regcenter.ModeCloud, Source: agent.SourceCenter, Addresses: []regcenter.Address{nowhere}}); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "switch", "reset", "--state", state)
	if err != nil || !strings.Contains(out, "back to traditional mode") {
		t.Fatalf("%v\n%s", err, out)
	}
	if s, err := agent.Load(state); err != nil || s.Mode != regcenter.ModeTraditional || len(s.Addresses) != 0 {
		t.Errorf("after reset: %+v, %v", s, err)
	}
	out, err = runCLI(t, "switch", "reset")
	wantUsageError(t, err, out)
}

func TestSwitchRunRefusesACorruptState(t *testing.T) {
	w := newSwitchWorld(t, "SW-CORRUPT")
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, agent.StateFile), []byte(`{"version":1,`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, w.runArgs("SW-CORRUPT", state)...)
	if !errors.Is(err, agent.ErrCorruptState) || exitCode(err) != 1 || !strings.Contains(err.Error(), "regcenter switch reset") {
		t.Errorf("err %v (exit %d), want the corrupt state named with its remedy (exit 1)\n%s", err, exitCode(err), out)
	}
}

func TestSwitchRefusesBadFlags(t *testing.T) {
	dir := initPKI(t)
	if out, err := runCLI(t, "pki", "issue", "device", "--dir", string(dir), "--esn", "SW-FLAGS"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	good := []string{"switch", "run", "--state", t.TempDir(), "--cert", dir.DeviceCert("SW-FLAGS"), "--key", dir.DeviceKey("SW-FLAGS"), "--center-ca", dir.CenterCACert()}
	for _, args := range [][]string{
		{"switch"},
		{"switch", "fly"},
		{"switch", "run"},
		{"switch", "run", "--state", t.TempDir()},
		append(slices.Clone(good), "--center", "http://center.example.net"),
		append(slices.Clone(good), "--center", "https://center.example.net/v1"),
		append(slices.Clone(good), "--mgmt-ip", "192.0.2.10"),
		append(slices.Clone(good), "--retry-initial", "0s"),
		append(slices.Clone(good), "--retry-initial", "2s", "--retry-max", "1s"),
		append(slices.Clone(good), "--log-level", "loud"),
		append(slices.Clone(good), "extra"),
		{"switch", "fleet", "--pki", string(dir)},
		{"switch", "fleet", "--pki", string(dir), "--count", "3", "--until", "registering"},
	} {
		out, err := runCLI(t, args...)
		wantUsageError(t, err, strings.Join(args, " ")+"\n"+out)
	}
}

func TestCenterURL(t *testing.T) {
	for in, want := range map[string]string{
		"center.example.net":              "https://center.example.net:10020",
		"https://center.example.net":      "https://center.example.net:10020",
		"https://center.example.net/":     "https://center.example.net:10020",
		"https://center.example.net:8443": "https://center.example.net:8443",
		"192.0.2.1":                       "https://192.0.2.1:10020",
		"https://[2001:db8::1]":           "https://[2001:db8::1]:10020",
		defaultCenterURL:                  "https://localhost:10020",
	} {
		if got, err := centerURL(in); err != nil || got != want {
			t.Errorf("centerURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestSwitchFleetCLI: the fleet command issues the missing certificates,
// boots the switches against the real center, prints plain progress lines
// (stdout is not a terminal here) and a summary, and fails because no
// switch could register.
func TestSwitchFleetCLI(t *testing.T) {
	w := newSwitchWorld(t)
	w.claim(t, "CLI0000", "CLI0001", "CLI0002")
	state := t.TempDir()
	out, err := runCLI(t, "switch", "fleet", "--pki", string(w.dir), "--count", "3", "--esn-prefix", "CLI", "--center", w.center,
		"--state", state, "--retry-initial", "5ms", "--retry-max", "20ms", "--max-retry-after", "20ms", "--timeout", "1s")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "3 of 3 switches did not reach registered within 1s") {
		t.Errorf("err %v (exit %d), want a failure naming the 3 unregistered switches", err, exitCode(err))
	}
	for _, want := range []string{"fleet ", "fleet: 0 of 3 switches registered", "by mode: cloud 3", "restarts: 3", "CLI0000: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("progress rewritten in place on a non-terminal:\n%q", out)
	}
	for _, esn := range []string{"CLI0000", "CLI0001", "CLI0002"} {
		if _, err := os.Stat(w.dir.DeviceCert(esn)); err != nil {
			t.Errorf("%s: no certificate issued: %v", esn, err)
		}
		if s, err := agent.Load(filepath.Join(state, esn)); err != nil || s.Mode != regcenter.ModeCloud {
			t.Errorf("%s: state %+v, %v", esn, s, err)
		}
	}
}
