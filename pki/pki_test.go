package pki_test

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/pki"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func initDir(t *testing.T) pki.Dir {
	t.Helper()
	dir := pki.Dir(filepath.Join(t.TempDir(), "pki"))
	if err := pki.Init(dir, []string{"localhost", "127.0.0.1", "::1"}, now); err != nil {
		t.Fatal(err)
	}
	return dir
}

func readCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.KeyPair{CertPEM: b}.Certificate()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cert
}

func loadCA(t *testing.T, certFile, keyFile string) *pki.CA {
	t.Helper()
	ca, err := pki.LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// verify checks that cert chains to ca for usage at time now.
func verify(t *testing.T, cert *x509.Certificate, ca *x509.Certificate, usage x509.ExtKeyUsage) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage},
	}); err != nil {
		t.Fatalf("%s does not verify for %v: %v", cert.Subject, usage, err)
	}
}

func mode(t *testing.T, name string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInitLayoutAndModes(t *testing.T) {
	dir := initDir(t)

	for _, f := range []struct {
		name string
		perm fs.FileMode
	}{
		{string(dir), 0o700},
		{dir.CenterCACert(), 0o644},
		{dir.CenterCAKey(), 0o600},
		{dir.PlatformCACert(), 0o644},
		{dir.PlatformCAKey(), 0o600},
		{dir.DeviceCACert(), 0o644},
		{dir.DeviceCAKey(), 0o600},
		{filepath.Dir(dir.ServerKey()), 0o700},
		{dir.ServerCert(), 0o644},
		{dir.ServerKey(), 0o600},
	} {
		if got := mode(t, f.name); got != f.perm {
			t.Errorf("%s: mode %v, want %v", f.name, got, f.perm)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(dir.ServerKey()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("center/ holds %d entries, want server.crt and server.key only (no temporary files)", len(entries))
	}

	var cas []*x509.Certificate
	for _, f := range [][2]string{
		{dir.CenterCACert(), dir.CenterCAKey()},
		{dir.PlatformCACert(), dir.PlatformCAKey()},
		{dir.DeviceCACert(), dir.DeviceCAKey()},
	} {
		ca := loadCA(t, f[0], f[1])
		c := ca.Cert
		if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero || c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("%s: IsCA %v MaxPathLen %d/%v KeyUsage %v", c.Subject, c.IsCA, c.MaxPathLen, c.MaxPathLenZero, c.KeyUsage)
		}
		if c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
			t.Errorf("%s: signature algorithm %v", c.Subject, c.SignatureAlgorithm)
		}
		if got, want := c.NotAfter, now.AddDate(pki.CAYears, 0, 0); !got.Equal(want) {
			t.Errorf("%s: NotAfter %v, want %v", c.Subject, got, want)
		}
		cas = append(cas, c)
	}
	if cas[0].Equal(cas[1]) || cas[1].Equal(cas[2]) || cas[0].Equal(cas[2]) {
		t.Error("the three CAs are not distinct")
	}

	server := readCert(t, dir.ServerCert())
	verify(t, server, cas[0], x509.ExtKeyUsageServerAuth)
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := server.VerifyHostname(host); err != nil {
			t.Error(err)
		}
	}
	if len(server.DNSNames) != 1 || len(server.IPAddresses) != 2 {
		t.Errorf("server SANs: DNS %v IP %v; want IP literals as IP addresses", server.DNSNames, server.IPAddresses)
	}
	if server.SerialNumber.BitLen() < 64 || server.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a random 128-bit number", server.SerialNumber)
	}
	if _, err := (pki.KeyPair{CertPEM: mustRead(t, dir.ServerCert()), KeyPEM: mustRead(t, dir.ServerKey())}).TLSCertificate(); err != nil {
		t.Errorf("server pair: %v", err)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInitRefusesExistingPKI(t *testing.T) {
	dir := initDir(t)
	before := mustRead(t, dir.PlatformCAKey())

	err := pki.Init(dir, []string{"localhost"}, now)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Init: %v, want fs.ErrExist", err)
	}
	if !strings.Contains(err.Error(), dir.CenterCACert()) {
		t.Errorf("error %q does not name the existing file", err)
	}
	if !slices.Equal(before, mustRead(t, dir.PlatformCAKey())) {
		t.Error("a refused Init replaced the platform CA key")
	}
}

func TestInitWritesNothingWhenOneFileExists(t *testing.T) {
	dir := pki.Dir(t.TempDir())
	if err := os.WriteFile(dir.DeviceCAKey(), []byte("someone's key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := pki.Init(dir, []string{"localhost"}, now)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), dir.DeviceCAKey()) {
		t.Fatalf("Init: %v, want fs.ErrExist naming %s", err, dir.DeviceCAKey())
	}
	entries, _ := os.ReadDir(string(dir))
	if len(entries) != 1 {
		t.Errorf("Init left %d entries, want only the existing key", len(entries))
	}
}

func TestInitRefusesBadHosts(t *testing.T) {
	for _, hosts := range [][]string{nil, {"bad host"}, {"fe80::1%eth0"}} {
		dir := pki.Dir(filepath.Join(t.TempDir(), "pki"))
		err := pki.Init(dir, hosts, now)
		if !errors.Is(err, regcenter.ErrInvalid) {
			t.Errorf("Init(%q): %v, want ErrInvalid", hosts, err)
		}
		if _, err := os.Stat(string(dir)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Init(%q) failed but created %s", hosts, dir)
		}
	}
}

var oidSerialNumber = asn1.ObjectIdentifier{2, 5, 4, 5}

func TestIssueDevice(t *testing.T) {
	dir := initDir(t)
	if err := pki.IssueDevice(dir, "ab-12.x_y", now); err != nil {
		t.Fatal(err)
	}
	const esn = "AB-12.X_Y"
	if got := mode(t, dir.DeviceKey(esn)); got != 0o600 {
		t.Errorf("device key mode %v", got)
	}
	if dir.DeviceCert("ab-12.x_y") != dir.DeviceCert(esn) {
		t.Error("Dir does not normalise ESNs")
	}
	cert := readCert(t, dir.DeviceCert(esn))
	verify(t, cert, readCert(t, dir.DeviceCACert()), x509.ExtKeyUsageClientAuth)
	if cert.Subject.SerialNumber != esn || cert.Subject.CommonName != esn {
		t.Errorf("subject %v, want serialNumber and CN %s", cert.Subject, esn)
	}
	var sawOID bool
	for _, atv := range cert.Subject.Names {
		sawOID = sawOID || atv.Type.Equal(oidSerialNumber) && atv.Value == esn
	}
	if !sawOID {
		t.Errorf("subject has no serialNumber (2.5.4.5) attribute: %v", cert.Subject.Names)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage %v", cert.ExtKeyUsage)
	}
	if cert.NotAfter.After(readCert(t, dir.DeviceCACert()).NotAfter) {
		t.Error("device certificate outlives its CA")
	}

	if err := pki.IssueDevice(dir, esn, now); !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing %s twice: %v, want fs.ErrExist", esn, err)
	}
}

func TestIssuePlatform(t *testing.T) {
	dir := initDir(t)
	if err := pki.IssuePlatform(dir, "acme-cloud", now); err != nil {
		t.Fatal(err)
	}
	cert := readCert(t, dir.PlatformCert("acme-cloud"))
	verify(t, cert, readCert(t, dir.PlatformCACert()), x509.ExtKeyUsageClientAuth)
	if cert.Subject.CommonName != "acme-cloud" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	// Issued by the platform CA only: the device CA must not vouch for it.
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, dir.DeviceCACert()))
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("platform certificate verifies against the device CA")
	}
	if got := mode(t, dir.PlatformKey("acme-cloud")); got != 0o600 {
		t.Errorf("platform key mode %v", got)
	}
	if err := pki.IssuePlatform(dir, "acme-cloud", now); !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing twice: %v, want fs.ErrExist", err)
	}
}

func TestIssuePlatformServer(t *testing.T) {
	dir := initDir(t)
	if err := pki.IssuePlatformServer(dir, "acme-cloud", []string{"cmp.example.net", "192.0.2.7"}, now); err != nil {
		t.Fatal(err)
	}
	cert := readCert(t, dir.PlatformServerCert("acme-cloud"))
	// Signed by the platform CA: what the platform publishes as its trust
	// anchor and switches verify it with.
	verify(t, cert, readCert(t, dir.PlatformCACert()), x509.ExtKeyUsageServerAuth)
	for _, h := range []string{"cmp.example.net", "192.0.2.7"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Error(err)
		}
	}
	if dir.PlatformServerCert("acme-cloud") != filepath.Join(string(dir), "platforms", "acme-cloud", "server.crt") {
		t.Errorf("server certificate at %s", dir.PlatformServerCert("acme-cloud"))
	}
	if got := mode(t, dir.PlatformServerKey("acme-cloud")); got != 0o600 {
		t.Errorf("server key mode %v", got)
	}
	if err := pki.IssuePlatformServer(dir, "acme-cloud", []string{"localhost"}, now); !errors.Is(err, fs.ErrExist) {
		t.Errorf("issuing twice: %v, want fs.ErrExist", err)
	}
	for _, tc := range []struct {
		id    string
		hosts []string
	}{{"bad id", []string{"localhost"}}, {"acme-2", nil}, {"acme-3", []string{"not a host"}}} {
		if err := pki.IssuePlatformServer(dir, tc.id, tc.hosts, now); !errors.Is(err, regcenter.ErrInvalid) {
			t.Errorf("IssuePlatformServer(%q, %q): %v, want ErrInvalid", tc.id, tc.hosts, err)
		}
	}
}

func TestIssueRefusesInvalidNames(t *testing.T) {
	dir := initDir(t)
	for _, esn := range []string{"", "has space", "ä", strings.Repeat("A", regcenter.MaxESNLength+1), "a/b"} {
		if err := pki.IssueDevice(dir, esn, now); !errors.Is(err, regcenter.ErrInvalid) {
			t.Errorf("IssueDevice(%q): %v, want ErrInvalid", esn, err)
		}
	}
	for _, id := range []string{"", "acme cloud", "tab\there", strings.Repeat("x", regcenter.MaxPlatformIDLength+1)} {
		if err := pki.IssuePlatform(dir, id, now); !errors.Is(err, regcenter.ErrInvalid) {
			t.Errorf("IssuePlatform(%q): %v, want ErrInvalid", id, err)
		}
	}
	if _, err := os.Stat(filepath.Join(string(dir), "devices")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a refused issuance created devices/")
	}
}

func TestPathsStayInsideDir(t *testing.T) {
	dir := pki.Dir("/pki")
	for _, name := range []string{"..", ".", "../x", "a/b", "%2E", ".hidden"} {
		for _, p := range []string{dir.PlatformCert(name), dir.DeviceCert(name)} {
			rel, err := filepath.Rel(string(dir), p)
			if err != nil || strings.Count(rel, string(filepath.Separator)) != 2 || strings.HasPrefix(filepath.Base(filepath.Dir(p)), ".") {
				t.Errorf("%q -> %s escapes its directory or hides", name, p)
			}
		}
	}
	if dir.PlatformCert("..") == dir.PlatformCert("%2E.") {
		t.Error("escaping is not injective")
	}
	// A valid platform ID may be anything printable; a platform with a '/'
	// in its ID still gets a directory of its own.
	tmp := initDir(t)
	if err := pki.IssuePlatform(tmp, "../evil", now); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(string(tmp), "evil")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("platform ID ../evil wrote outside platforms/")
	}
	if readCert(t, tmp.PlatformCert("../evil")).Subject.CommonName != "../evil" {
		t.Error("CN of ../evil")
	}
}

func TestIssueDevicesIdempotent(t *testing.T) {
	dir := initDir(t)
	// One device of the fleet already exists (issued by hand).
	if err := pki.IssueDevice(dir, "p0003", now); err != nil {
		t.Fatal(err)
	}
	before := mustRead(t, dir.DeviceCert("P0003"))

	issued, err := pki.IssueDevices(context.Background(), dir, "p", 12, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"P0000", "P0001", "P0002", "P0004", "P0005", "P0006", "P0007", "P0008", "P0009", "P0010", "P0011"}
	if !slices.Equal(issued, want) {
		t.Errorf("issued %v, want %v", issued, want)
	}
	if !slices.Equal(before, mustRead(t, dir.DeviceCert("P0003"))) {
		t.Error("fleet issuance replaced an existing device certificate")
	}
	deviceCA := readCert(t, dir.DeviceCACert())
	for _, esn := range want {
		verify(t, readCert(t, dir.DeviceCert(esn)), deviceCA, x509.ExtKeyUsageClientAuth)
	}

	again, err := pki.IssueDevices(context.Background(), dir, "P", 12, now)
	if err != nil || len(again) != 0 {
		t.Errorf("second run issued %v, %v; want nothing", again, err)
	}
	more, err := pki.IssueDevices(context.Background(), dir, "P", 14, now)
	if err != nil || !slices.Equal(more, []string{"P0012", "P0013"}) {
		t.Errorf("growing the fleet issued %v, %v; want P0012 P0013", more, err)
	}
}

func TestFleetESNs(t *testing.T) {
	for _, tc := range []struct {
		prefix      string
		count       int
		first, last string
	}{
		{"P", 100, "P0000", "P0099"},
		{"sw-", 1, "SW-0000", "SW-0000"},
		{"X", 10001, "X00000", "X10000"},
	} {
		esns, err := pki.FleetESNs(tc.prefix, tc.count)
		if err != nil {
			t.Errorf("%q %d: %v", tc.prefix, tc.count, err)
			continue
		}
		if len(esns) != tc.count || esns[0] != tc.first || esns[len(esns)-1] != tc.last || !slices.IsSorted(esns) {
			t.Errorf("%q %d: %d ESNs %s..%s, sorted %v", tc.prefix, tc.count, len(esns), esns[0], esns[len(esns)-1], slices.IsSorted(esns))
		}
	}
	for _, tc := range []struct {
		prefix string
		count  int
	}{
		{"P", 0}, {"P", -1}, {"P", pki.MaxFleetSize + 1}, {"bad prefix", 3}, {strings.Repeat("A", regcenter.MaxESNLength-3), 1},
	} {
		if _, err := pki.FleetESNs(tc.prefix, tc.count); !errors.Is(err, regcenter.ErrInvalid) {
			t.Errorf("FleetESNs(%q, %d): %v, want ErrInvalid", tc.prefix, tc.count, err)
		}
	}
}

func TestIssueDevicesStopsWithContext(t *testing.T) {
	dir := initDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	issued, err := pki.IssueDevices(ctx, dir, "P", 1000, now)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	if len(issued) == 1000 {
		t.Error("a cancelled fleet issuance ran to the end")
	}
}

func TestLoadCARefusesMismatchedKey(t *testing.T) {
	dir := initDir(t)
	if _, err := pki.LoadCA(dir.PlatformCACert(), dir.DeviceCAKey()); err == nil {
		t.Error("LoadCA accepted the device CA's key for the platform CA")
	}
	if _, err := pki.LoadCA(dir.ServerCert(), dir.ServerKey()); err == nil {
		t.Error("LoadCA accepted a server certificate as a CA")
	}
}

func TestIssueClampsToCA(t *testing.T) {
	ca, err := pki.NewCA("test CA", pki.ValidFor(now, 1))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueDevice("D1", pki.ValidFor(now, 5))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", cert.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := ca.IssueDevice("D2", pki.Validity{NotBefore: now, NotAfter: now}); !errors.Is(err, regcenter.ErrInvalid) {
		t.Errorf("empty validity: %v, want ErrInvalid", err)
	}
}
