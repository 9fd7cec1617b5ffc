package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
)

// Validity is the period in which a certificate is valid.
type Validity struct {
	NotBefore, NotAfter time.Time
}

// clockSkew is how far NotBefore is set back from "now": a certificate
// issued a second ago must already verify on a switch or a platform whose
// clock is a little behind the machine that issued it.
const clockSkew = time.Hour

// ValidFor returns the validity starting at now (less a margin for clock
// skew) and lasting the given number of years.
func ValidFor(now time.Time, years int) Validity {
	return Validity{NotBefore: now.Add(-clockSkew), NotAfter: now.AddDate(years, 0, 0)}
}

func (v Validity) check() error {
	if v.NotBefore.IsZero() || !v.NotAfter.After(v.NotBefore) {
		return invalidf("validity must have NotBefore set and NotAfter after it")
	}
	return nil
}

// invalidf reports a bad argument with the domain's error, so that callers
// (the CLI) can tell a caller's mistake from a failure with errors.Is(err,
// regcenter.ErrInvalid).
func invalidf(format string, args ...any) error {
	return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, format, args...)
}

// CA is a certificate authority: its certificate and the key that signs
// with it.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA creates a self-signed CA that may sign end-entity certificates
// only (MaxPathLen 0): nothing below it can mint further issuers.
func NewCA(commonName string, v Validity) (*CA, error) {
	if commonName == "" {
		return nil, invalidf("a CA needs a common name")
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             v.NotBefore,
		NotAfter:              v.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA %q: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA certificate and its PKCS #8 private key, and checks
// that they belong together and that the certificate is a CA's.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	cert, err := parseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", certFile, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("pki: %s is not a CA certificate", certFile)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", keyFile, err)
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("pki: %s does not hold the key of %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM returns the CA's certificate as PEM: what relying parties put in
// their trust store.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

func (ca *CA) keyPair() (KeyPair, error) {
	keyPEM, err := encodeKey(ca.Key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{CertPEM: ca.CertPEM(), KeyPEM: keyPEM}, nil
}

// KeyPair is an issued certificate and its private key, both PEM.
type KeyPair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// TLSCertificate returns the pair in the form crypto/tls presents.
func (kp KeyPair) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
}

// Certificate parses the pair's certificate.
func (kp KeyPair) Certificate() (*x509.Certificate, error) {
	return parseCertificatePEM(kp.CertPEM)
}

// Write stores the key (mode 0600, its directory created 0700) and then
// the certificate (0644), each atomically. The key goes first so that an
// existing certificate file always has its key next to it: fleet issuance
// relies on that to skip devices already done.
func (kp KeyPair) Write(certFile, keyFile string) error {
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := writeFileAtomic(keyFile, kp.KeyPEM, 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return writeFileAtomic(certFile, kp.CertPEM, 0o644)
}

// IssueServer issues a TLS server certificate for hosts, each a DNS name or
// an IP literal. A leaf never outlives its CA: NotAfter is cut to the CA's.
func (ca *CA) IssueServer(hosts []string, v Validity) (KeyPair, error) {
	if len(hosts) == 0 {
		return KeyPair{}, invalidf("a server certificate needs at least one host")
	}
	var dnsNames []string
	var ips []net.IP
	for _, h := range hosts {
		if ip, err := netip.ParseAddr(h); err == nil {
			if ip.Zone() != "" {
				return KeyPair{}, invalidf("host %q: an IP address with a zone cannot be certified", h)
			}
			ips = append(ips, net.IP(ip.AsSlice()))
			continue
		}
		if err := regcenter.ValidateHost(h); err != nil {
			return KeyPair{}, invalidf("host %q is neither a DNS name nor an IP address", h)
		}
		dnsNames = append(dnsNames, strings.ToLower(strings.TrimSuffix(h, ".")))
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		DNSNames:    dnsNames,
		IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, v)
}

// IssuePlatform issues a platform's client certificate: the center reads
// the platform's ID from the subject CN. It returns an error of kind
// regcenter.ErrInvalid for an invalid ID.
func (ca *CA) IssuePlatform(id string, v Validity) (KeyPair, error) {
	if err := regcenter.ValidatePlatformID(id); err != nil {
		return KeyPair{}, err
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: id},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, v)
}

// IssueDevice issues a device certificate in the IDevID manner: the
// normalised ESN as subject serialNumber, where IEEE 802.1AR puts it and
// where the center reads it, and as CN for people and for tools that only
// show the CN. Switches also present it to their platform, so it is a
// client certificate. It returns an error of kind regcenter.ErrInvalid for
// an invalid ESN.
func (ca *CA) IssueDevice(esn string, v Validity) (KeyPair, error) {
	n, err := regcenter.NormalizeESN(esn)
	if err != nil {
		return KeyPair{}, err
	}
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{SerialNumber: n, CommonName: n},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, v)
}

// issue completes tmpl with what every leaf shares, generates its key and
// signs it.
func (ca *CA) issue(tmpl *x509.Certificate, v Validity) (KeyPair, error) {
	if v.NotAfter.After(ca.Cert.NotAfter) {
		v.NotAfter = ca.Cert.NotAfter
	}
	if err := v.check(); err != nil {
		return KeyPair{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return KeyPair{}, err
	}
	tmpl.NotBefore, tmpl.NotAfter = v.NotBefore, v.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return KeyPair{}, fmt.Errorf("pki: sign %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  keyPEM,
	}, nil
}

// randomSerial returns a positive 128-bit random serial number: unique
// without any state, and unpredictable, which RFC 5280 and the CA/Browser
// Forum ask of serials to defeat chosen-prefix collisions.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, err
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCertificatePEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func parseKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY (PKCS #8) block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign", key)
	}
	return signer, nil
}

// writeFileAtomic writes data to a temporary file in name's directory and
// renames it into place, so that a reader (or a crash) never sees half a
// key or half a certificate.
func writeFileAtomic(name string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("pki: write %s: %w", name, err)
		}
	}()
	// CreateTemp makes the file 0600; Chmod sets perm exactly, whatever the
	// umask, and before any byte of a key is in it.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
