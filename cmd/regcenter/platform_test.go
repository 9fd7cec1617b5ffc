package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/cmp/cmpclient"
	"github.com/regcenter/regcenter/cmp/cmptest"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

func TestPKIIssuePlatformServer(t *testing.T) {
	dir := initPKI(t)
	out, err := runCLI(t, "pki", "issue", "platform-server", "--dir", string(dir), "--id", "acme-cloud", "--hosts", "cmp.example.net, 192.0.2.5")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "wrote "+dir.PlatformServerCert("acme-cloud")+"\n") || !strings.Contains(out, "wrote "+dir.PlatformServerKey("acme-cloud")+"\n") {
		t.Errorf("output does not name the files:\n%s", out)
	}
	cert := certificate(t, dir.PlatformServerCert("acme-cloud"))
	roots := x509.NewCertPool()
	roots.AddCert(certificate(t, dir.PlatformCACert()))
	for _, host := range []string{"cmp.example.net", "192.0.2.5"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("the platform CA does not vouch for %s: %v", host, err)
		}
	}
	if _, err := runCLI(t, "pki", "issue", "platform-server", "--dir", string(dir), "--id", "acme-cloud"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing twice: %v, want fs.ErrExist", err)
	}
	for _, args := range [][]string{
		{"pki", "issue", "platform-server", "--dir", string(dir)},
		{"pki", "issue", "platform-server", "--id", "x"},
		{"pki", "issue", "platform-server", "--dir", string(dir), "--id", "bad id"},
		{"pki", "issue", "platform-server", "--dir", string(dir), "--id", "x", "--hosts", ","},
		{"pki", "issue", "platform-server", "--dir", string(dir), "--id", "x", "--hosts", "not a host"},
	} {
		out, err := runCLI(t, args...)
		wantUsageError(t, err, out)
	}
}

// platformPKI is a pki init layout with the platform acme's client and
// server certificates and the device SW-1.
func platformPKI(t *testing.T) pki.Dir {
	t.Helper()
	dir := initPKI(t)
	for _, args := range [][]string{
		{"pki", "issue", "platform", "--dir", string(dir), "--id", "acme"},
		{"pki", "issue", "platform-server", "--dir", string(dir), "--id", "acme", "--hosts", "localhost,127.0.0.1"},
		{"pki", "issue", "device", "--dir", string(dir), "--esn", "SW-1"},
	} {
		if out, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	return dir
}

var platformLine = regexp.MustCompile(`^regcenter platform: devices on (https://\S+), admin on (http://\S+)$`)

// startPlatform runs 'platform serve' in the background until it prints
// where it serves; stop ends it as SIGTERM does and returns its error.
func startPlatform(t *testing.T, args ...string) (devices, admin string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"platform", "serve"}, args...), os.Getenv, pw, io.Discard)
		pw.Close()
		errc <- err
	}()
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		if m := platformLine.FindStringSubmatch(lines.Text()); m != nil {
			devices, admin = m[1], m[2]
			break
		}
	}
	if devices == "" {
		cancel()
		t.Fatalf("platform serve stopped before serving: %v", <-errc)
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	var stopErr error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(20 * time.Second):
				stopErr = errors.New("platform serve did not stop within 20s")
			}
		}
		return stopErr
	}
	t.Cleanup(func() { stop() })
	return devices, admin, stop
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPlatformServeAndImport runs the commands as an operator would: a
// center, a platform from the same PKI, an import, a refused import, and
// a switch registering with the platform, which it verifies with the
// platform CA the platform published.
func TestPlatformServeAndImport(t *testing.T) {
	dir := platformPKI(t)
	tmp := t.TempDir()
	api, _, stopCenter := startServe(t, "--pki", string(dir), "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--store", "sqlite:"+filepath.Join(tmp, "center.db"))
	devices, admin, stop := startPlatform(t, "--center", "https://"+api, "--pki", string(dir), "--id", "acme",
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data", filepath.Join(tmp, "platform"),
		"--retry-initial", "20ms", "--retry-max", "100ms", "--heartbeat-interval", "5s", "--log-level", "debug")

	good := writeFile(t, "good.csv", "esn,device_type\nSW-1,S5735-L24T4S-A\nSW-2,S5735-L24T4S-A\n")
	out, err := runCLI(t, "platform", "import", good, "--admin", admin)
	if err != nil || !strings.Contains(out, "imported "+good+": 2 new, 0 updated, 0 unchanged") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	cmptest.Eventually(t, "both devices claimed", func() bool {
		list := adminList(t, admin)
		return len(list) == 2 && list[0].State == cmpwire.StateClaimed && list[1].State == cmpwire.StateClaimed
	})

	bad := writeFile(t, "bad.csv", "esn,device_type\nSW-3,S\nnot an esn,S\nSW-4\nSW-3,S\n")
	out, err = runCLI(t, "platform", "import", "--admin", admin, bad)
	var refused *cmpclient.RefusedError
	if !errors.As(err, &refused) || exitCode(err) != 1 {
		t.Errorf("a bad file: %v (exit %d), want a refused import (exit 1)", err, exitCode(err))
	}
	for _, line := range []string{bad + ":2: SW-3 ", bad + ":3: not an esn ", bad + ":4: SW-4 want 2 fields", bad + ":5: SW-3 "} {
		if !strings.Contains(out, line) {
			t.Errorf("output does not name %q:\n%s", line, out)
		}
	}
	if n := len(adminList(t, admin)); n != 2 {
		t.Errorf("a refused file changed the list to %d devices", n)
	}

	// A switch that trusts only the platform CA registers over HTTP/2.
	sw, err := tls.LoadX509KeyPair(dir.DeviceCert("SW-1"), dir.DeviceKey("SW-1"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(certificate(t, dir.PlatformCACert()))
	ep, err := client.NewEndpoint(devices, mtls.ClientConfig(sw, roots), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	var reg cmpwire.RegisterResponse
	if err := ep.Do(context.Background(), "POST", "/v1/register", cmpwire.RegisterRequest{ESN: "SW-1", DeviceType: "S5735-L24T4S-A"}, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.PlatformID != "acme" || reg.HeartbeatIntervalSeconds != 5 {
		t.Errorf("register answered %+v", reg)
	}
	if err := stop(); err != nil {
		t.Errorf("platform serve: %v", err)
	}
	if err := stopCenter(); err != nil {
		t.Errorf("serve: %v", err)
	}
}

func adminList(t *testing.T, admin string) []cmpwire.AdminDevice {
	t.Helper()
	c, err := cmpclient.NewAdmin(admin)
	if err != nil {
		t.Fatal(err)
	}
	devs, err := c.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return devs
}

func TestPlatformRefusesBadFlags(t *testing.T) {
	dir := platformPKI(t)
	data := t.TempDir()
	base := []string{"platform", "serve", "--center", "https://127.0.0.1:1", "--data", data, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	for _, args := range [][]string{
		{"platform"},
		{"platform", "run"},
		{"platform", "serve", "--pki", string(dir), "--id", "acme"}, // no --center, no --data
		append(base, "--pki", string(dir)),
		append(base, "--cert", dir.PlatformCert("acme")),
		append(base, "--pki", string(dir), "--id", "acme", "--advertise", "cmp.example.net"),
		append(base, "--pki", string(dir), "--id", "acme", "--advertise", "cmp.example.net:0"),
		append(base, "--pki", string(dir), "--id", "acme", "--retry-initial", "2s", "--retry-max", "1s"),
		append(base, "--pki", string(dir), "--id", "acme", "--heartbeat-interval", "10ms"),
		{"platform", "import"},
		{"platform", "import", "a.csv", "b.csv"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			out, err := runCLI(t, args...)
			wantUsageError(t, err, out)
		})
	}
	// A trust anchor that does not vouch for the server certificate would
	// lock every switch out: the platform does not start.
	out, err := runCLI(t, append(base, "--pki", string(dir), "--id", "acme", "--trust-anchor", dir.CenterCACert())...)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "does not verify the server certificate") {
		t.Errorf("a foreign trust anchor: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "platform", "import", "--admin", "http://127.0.0.1:1", filepath.Join(data, "missing.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("importing a missing file: %v", err)
	}
}
