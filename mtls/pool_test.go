package mtls_test

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/regcenter/regcenter/mtls"
)

// TestLoadPool: the pool verifies what its CAs signed and nothing else,
// and a file LoadCertificates refuses is refused.
func TestLoadPool(t *testing.T) {
	f := newPKI(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "centers.pem")
	if err := os.WriteFile(bundle, append(f.center.CertPEM(), f.platformCA.CertPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	pool, err := mtls.LoadPool(bundle)
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	for name, leaf := range map[string]*x509.Certificate{"server": f.serverCert.Leaf, "platform": f.platform(t, "cmp-1").Leaf} {
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("%s certificate, signed by a CA of the bundle: %v", name, err)
		}
	}
	var unknown x509.UnknownAuthorityError
	if _, err := f.device(t, "SW-1").Leaf.Verify(opts); !errors.As(err, &unknown) {
		t.Errorf("device certificate, signed by a CA outside the bundle: %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, append(f.center.CertPEM(), "junk"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := mtls.LoadPool(junk); err == nil {
		t.Error("a bundle with trailing junk was loaded")
	}
}
