package cmpserver

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// Files names the PEM files a platform runs with.
type Files struct {
	Cert, Key   string // the platform's client certificate toward the center
	CenterCA    string // the center's CA bundle
	DeviceCA    string // the CAs of the switches' device certificates
	TLSCert     string // the device API's server certificate
	TLSKey      string
	TrustAnchor string // the CA(s) of TLSCert, published for switches
}

// PKIFiles returns the files of platform id in a 'regcenter pki init'
// layout: its client and server certificates (pki issue platform,
// pki issue platform-server), the center and device CAs, and the platform
// CA as the trust anchor.
func PKIFiles(dir pki.Dir, id string) Files {
	return Files{
		Cert: dir.PlatformCert(id), Key: dir.PlatformKey(id), CenterCA: dir.CenterCACert(), DeviceCA: dir.DeviceCACert(),
		TLSCert: dir.PlatformServerCert(id), TLSKey: dir.PlatformServerKey(id), TrustAnchor: dir.PlatformCACert(),
	}
}

// Load reads the files into cfg's certificate fields. It refuses a trust
// anchor that does not verify the server certificate: published, it would
// lock every switch out.
func (f Files) Load(cfg *Config) error {
	var err error
	if cfg.Certificate, err = tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
		return fmt.Errorf("platform certificate: %w", err)
	}
	if cfg.ServerCertificate, err = tls.LoadX509KeyPair(f.TLSCert, f.TLSKey); err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	if cfg.CenterRoots, err = mtls.LoadPool(f.CenterCA); err != nil {
		return fmt.Errorf("center CA: %w", err)
	}
	if cfg.DeviceCAs, err = mtls.LoadCertificates(f.DeviceCA); err != nil {
		return fmt.Errorf("device CA: %w", err)
	}
	anchors, err := mtls.LoadPool(f.TrustAnchor)
	if err != nil {
		return fmt.Errorf("trust anchor: %w", err)
	}
	if _, err := cfg.ServerCertificate.Leaf.Verify(x509.VerifyOptions{Roots: anchors, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("trust anchor %s does not verify the server certificate %s: %w", f.TrustAnchor, f.TLSCert, err)
	}
	pem, err := os.ReadFile(f.TrustAnchor)
	if err != nil {
		return err
	}
	cfg.TrustAnchor = string(pem)
	return nil
}
