package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regcenter/regcenter/pki"
)

// runCLI runs the command line and returns its error and its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func initPKI(t *testing.T) pki.Dir {
	t.Helper()
	dir := pki.Dir(filepath.Join(t.TempDir(), "pki"))
	out, err := runCLI(t, "pki", "init", "--dir", string(dir))
	if err != nil {
		t.Fatalf("pki init: %v\n%s", err, out)
	}
	return dir
}

func wantUsageError(t *testing.T, err error, out string) {
	t.Helper()
	if !errors.Is(err, errUsage) || exitCode(err) != 2 {
		t.Errorf("err %v (exit %d), want a usage error (exit 2)\n%s", err, exitCode(err), out)
	}
}

func certificate(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.KeyPair{CertPEM: b}.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPKIInit(t *testing.T) {
	dir := pki.Dir(filepath.Join(t.TempDir(), "pki"))
	out, err := runCLI(t, "pki", "init", "--dir", string(dir), "--hosts", "center.example, 192.0.2.1")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, name := range []string{
		dir.CenterCACert(), dir.CenterCAKey(), dir.PlatformCACert(), dir.PlatformCAKey(),
		dir.DeviceCACert(), dir.DeviceCAKey(), dir.ServerCert(), dir.ServerKey(),
	} {
		if !strings.Contains(out, "wrote "+name+"\n") {
			t.Errorf("output does not mention %s:\n%s", name, out)
		}
		if _, err := os.Stat(name); err != nil {
			t.Error(err)
		}
	}
	server := certificate(t, dir.ServerCert())
	if err := server.VerifyHostname("center.example"); err != nil {
		t.Error(err)
	}
	if err := server.VerifyHostname("192.0.2.1"); err != nil {
		t.Error(err)
	}

	before, _ := os.ReadFile(dir.CenterCAKey())
	out, err = runCLI(t, "pki", "init", "--dir", string(dir))
	if !errors.Is(err, fs.ErrExist) || exitCode(err) != 1 || !strings.Contains(err.Error(), dir.CenterCACert()) {
		t.Errorf("second init: %v (exit %d), want fs.ErrExist naming the CA file\n%s", err, exitCode(err), out)
	}
	if after, _ := os.ReadFile(dir.CenterCAKey()); !bytes.Equal(before, after) {
		t.Error("a second init replaced the center CA key")
	}
}

func TestPKIInitDefaultHosts(t *testing.T) {
	dir := initPKI(t)
	server := certificate(t, dir.ServerCert())
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := server.VerifyHostname(h); err != nil {
			t.Error(err)
		}
	}
}

func TestPKIIssuePlatform(t *testing.T) {
	dir := initPKI(t)
	out, err := runCLI(t, "pki", "issue", "platform", "--dir", string(dir), "--id", "acme-cloud")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, dir.PlatformCert("acme-cloud")) || !strings.Contains(out, dir.PlatformKey("acme-cloud")) {
		t.Errorf("output does not name the files:\n%s", out)
	}
	if cn := certificate(t, dir.PlatformCert("acme-cloud")).Subject.CommonName; cn != "acme-cloud" {
		t.Errorf("CN %q", cn)
	}
	_, err = runCLI(t, "pki", "issue", "platform", "--dir", string(dir), "--id", "acme-cloud")
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing twice: %v, want fs.ErrExist", err)
	}
}

func TestPKIIssueDevice(t *testing.T) {
	dir := initPKI(t)
	out, err := runCLI(t, "pki", "issue", "device", "--dir", string(dir), "--esn", "sw-01")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "wrote "+dir.DeviceCert("SW-01")+"\n") {
		t.Errorf("output does not name %s:\n%s", dir.DeviceCert("SW-01"), out)
	}
	if sn := certificate(t, dir.DeviceCert("SW-01")).Subject.SerialNumber; sn != "SW-01" {
		t.Errorf("serialNumber %q, want the normalised ESN", sn)
	}
}

func TestPKIIssueFleet(t *testing.T) {
	dir := initPKI(t)
	out, err := runCLI(t, "pki", "issue", "device", "--dir", string(dir), "--count", "3", "--esn-prefix", "p")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, esn := range []string{"P0000", "P0001", "P0002"} {
		if !strings.Contains(out, "wrote "+dir.DeviceCert(esn)+"\n") {
			t.Errorf("output does not name %s:\n%s", esn, out)
		}
	}
	out, err = runCLI(t, "pki", "issue", "device", "--dir", string(dir), "--count", "3", "--esn-prefix", "P")
	if err != nil || strings.Contains(out, "wrote") || !strings.Contains(out, "issued 0 device certificates; 3 already existed") {
		t.Errorf("second run: %v\n%s", err, out)
	}
}

func TestPKIUsageErrors(t *testing.T) {
	dir := string(initPKI(t))
	for _, args := range [][]string{
		{"pki"},
		{"pki", "renew"},
		{"pki", "issue"},
		{"pki", "issue", "server", "--dir", dir},
		{"pki", "init"},
		{"pki", "init", "--dir", filepath.Join(dir, "new"), "--hosts", ","},
		{"pki", "init", "--dir", filepath.Join(dir, "new"), "--hosts", "not a host"},
		{"pki", "init", "--dir", filepath.Join(dir, "new"), "stray"},
		{"pki", "issue", "platform", "--dir", dir},
		{"pki", "issue", "platform", "--id", "acme"},
		{"pki", "issue", "platform", "--dir", dir, "--id", "has space"},
		{"pki", "issue", "device", "--dir", dir},
		{"pki", "issue", "device", "--esn", "SW-1"},
		{"pki", "issue", "device", "--dir", dir, "--esn", "bad esn!"},
		{"pki", "issue", "device", "--dir", dir, "--esn", ""},
		{"pki", "issue", "device", "--dir", dir, "--esn", "SW-1", "--count", "2", "--esn-prefix", "P"},
		{"pki", "issue", "device", "--dir", dir, "--count", "2"},
		{"pki", "issue", "device", "--dir", dir, "--esn-prefix", "P"},
		{"pki", "issue", "device", "--dir", dir, "--count", "0", "--esn-prefix", "P"},
		{"pki", "issue", "device", "--dir", dir, "--count", "2", "--esn-prefix", "bad prefix"},
		{"pki", "issue", "device", "--dir", dir, "--count", "many", "--esn-prefix", "P"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, err := runCLI(t, args...)
			wantUsageError(t, err, out)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a refused init created its directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "devices")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a refused issue created devices/")
	}
}

func TestPKIIssueWithoutInit(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "pki", "issue", "device", "--dir", dir, "--esn", "SW-1")
	if err == nil || exitCode(err) != 1 || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("issue without a PKI: %v (exit %d), want a missing-file failure\n%s", err, exitCode(err), out)
	}
}
