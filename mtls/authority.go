package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/regcenter/regcenter"
)

// ErrNoIdentity is wrapped by every error of Identify: the verified chain
// does not make a platform or a device. Such a caller is never served.
var ErrNoIdentity = errors.New("mtls: certificate does not identify a platform or a device")

// LoadCertificates reads a PEM bundle of certificates (several CAs, say).
// A block of another type, trailing garbage, or a file without any
// certificate is an error: a trust store that silently loaded less than
// its file holds would fail in confusing ways much later.
func LoadCertificates(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("mtls: %w", err)
	}
	certs, err := regcenter.ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("mtls: %s: %w", file, err)
	}
	return certs, nil
}

// Authority knows which CAs vouch for platforms and which for devices. It
// is immutable, and safe for concurrent use.
type Authority struct {
	// roles is keyed by the CA certificate's DER bytes: exact identity of
	// the trust anchor, not of its name or key, which a re-issued CA could
	// share with another role.
	roles map[string]regcenter.Role
	pool  *x509.CertPool
	// verified serves servers that verify each chain once (VerifyOnce).
	verified *verifiedChains
}

// NewAuthority returns the Authority for these platform and device CAs. It
// refuses an empty set, a certificate that is not a CA, and a CA in both
// sets (a chain to it would make its holder both).
func NewAuthority(platformCAs, deviceCAs []*x509.Certificate) (*Authority, error) {
	if len(platformCAs) == 0 || len(deviceCAs) == 0 {
		return nil, errors.New("mtls: need at least one platform CA and one device CA")
	}
	return newAuthority(platformCAs, deviceCAs)
}

// NewDeviceAuthority returns an Authority that knows device CAs only: what
// a server that only switches call (the reference platform's device API)
// verifies them with. Its ServerConfig fails the handshake of any other
// certificate, and its Identify yields only devices, read from the leaf
// exactly as the center reads them.
func NewDeviceAuthority(deviceCAs []*x509.Certificate) (*Authority, error) {
	if len(deviceCAs) == 0 {
		return nil, errors.New("mtls: need at least one device CA")
	}
	return newAuthority(nil, deviceCAs)
}

func newAuthority(platformCAs, deviceCAs []*x509.Certificate) (*Authority, error) {
	a := &Authority{roles: make(map[string]regcenter.Role), pool: x509.NewCertPool(), verified: newVerifiedChains(maxVerifiedChains)}
	for _, set := range []struct {
		role regcenter.Role
		cas  []*x509.Certificate
	}{{regcenter.RolePlatform, platformCAs}, {regcenter.RoleDevice, deviceCAs}} {
		for _, ca := range set.cas {
			if !ca.BasicConstraintsValid || !ca.IsCA {
				return nil, fmt.Errorf("mtls: %s CA %q is not a CA certificate", set.role, ca.Subject)
			}
			if role, ok := a.roles[string(ca.Raw)]; ok {
				if role != set.role {
					return nil, fmt.Errorf("mtls: CA %q is both a platform CA and a device CA", ca.Subject)
				}
				continue
			}
			a.roles[string(ca.Raw)] = set.role
			a.pool.AddCert(ca)
		}
	}
	return a, nil
}

// ClientCAs returns a new pool of all platform and device CAs: what a
// server verifies client certificates against.
func (a *Authority) ClientCAs() *x509.CertPool {
	return a.pool.Clone()
}

// Identify says who the peer of a connection is, from cs.VerifiedChains
// alone (crypto/tls has verified them; they are not verified again). Every
// verified chain must end at a CA of the same role; the leaf must not be
// that CA itself. A platform's ID is the leaf's CN, a device's the
// normalised subject serialNumber, or the CN when the subject has no
// serialNumber. Errors wrap ErrNoIdentity.
//
// With a server configured to verify each chain once (ServerOptions
// VerifyOnce), crypto/tls leaves VerifiedChains empty and the handshake's
// own verification is found again by the bytes the client presented.
func (a *Authority) Identify(cs *tls.ConnectionState) (regcenter.Identity, error) {
	if cs == nil {
		return regcenter.Identity{}, fmt.Errorf("%w: no TLS connection", ErrNoIdentity)
	}
	if len(cs.VerifiedChains) == 0 {
		if a.verified == nil {
			return regcenter.Identity{}, fmt.Errorf("%w: no verified certificate chain", ErrNoIdentity)
		}
		return a.verifyPeer(cs.PeerCertificates, time.Now())
	}
	return a.identifyChains(cs.VerifiedChains)
}

// identifyChains says who the leaf of verified chains is.
func (a *Authority) identifyChains(chains [][]*x509.Certificate) (regcenter.Identity, error) {
	var role regcenter.Role
	for _, chain := range chains {
		if len(chain) < 2 {
			return regcenter.Identity{}, fmt.Errorf("%w: the client presented a CA certificate", ErrNoIdentity)
		}
		r, ok := a.roles[string(chain[len(chain)-1].Raw)]
		switch {
		case !ok:
			return regcenter.Identity{}, fmt.Errorf("%w: chain ends at a CA that is neither a platform CA nor a device CA", ErrNoIdentity)
		case role != "" && r != role:
			return regcenter.Identity{}, fmt.Errorf("%w: chains to both a platform CA and a device CA", ErrNoIdentity)
		}
		role = r
	}

	subject := chains[0][0].Subject
	switch role {
	case regcenter.RolePlatform:
		if err := regcenter.ValidatePlatformID(subject.CommonName); err != nil {
			return regcenter.Identity{}, fmt.Errorf("%w: platform CN: %v", ErrNoIdentity, err)
		}
		return regcenter.Identity{Role: role, ID: subject.CommonName}, nil
	case regcenter.RoleDevice:
		sn := subject.SerialNumber
		if sn == "" {
			sn = subject.CommonName
		}
		esn, err := regcenter.NormalizeESN(sn)
		if err != nil {
			return regcenter.Identity{}, fmt.Errorf("%w: device serial number: %v", ErrNoIdentity, err)
		}
		return regcenter.Identity{Role: role, ID: esn}, nil
	}
	return regcenter.Identity{}, fmt.Errorf("%w: role %q", ErrNoIdentity, role)
}
