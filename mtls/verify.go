package mtls

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/regcenter/regcenter"
)

// verifiedChains remembers the client certificate chains the center has
// already verified, keyed by the exact bytes the client presented, so that
// a switch that connects again (after its restart, on every retry, for
// each of a fleet's requests) costs no second chain verification. See
// docs/decisions/0009-verify-once.md for why this is sound: a CA's
// signature over the same bytes does not change, and what can change —
// the time (validity) — is checked again at every use. The proof that the
// client holds the key (its CertificateVerify signature) is checked by
// crypto/tls in every handshake, cached or not.
type verifiedChains struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]verifiedChain
}

// verifiedChain is what a verification established.
type verifiedChain struct {
	id                  regcenter.Identity
	notBefore, notAfter time.Time // where every certificate of the chain is valid
}

// maxVerifiedChains bounds the memory of the cache: about 150 bytes an
// entry, so some 15 MiB for a hundred thousand switches.
const maxVerifiedChains = 100_000

func newVerifiedChains(max int) *verifiedChains {
	return &verifiedChains{max: max, entries: make(map[[sha256.Size]byte]verifiedChain)}
}

// chainKey hashes the presented certificates with their lengths, so that
// no two different lists share a key.
func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [4]byte
	for _, c := range certs {
		l := len(c.Raw)
		n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (v *verifiedChains) get(k [sha256.Size]byte, now time.Time) (regcenter.Identity, bool) {
	v.mu.RLock()
	e, ok := v.entries[k]
	v.mu.RUnlock()
	if !ok || now.Before(e.notBefore) || now.After(e.notAfter) {
		return regcenter.Identity{}, false
	}
	return e.id, true
}

func (v *verifiedChains) put(k [sha256.Size]byte, e verifiedChain) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.max {
		// Drop about a tenth in the map's random order: cheap, and a
		// switch that comes back is verified again, which is only slower.
		n := v.max/10 + 1
		for key := range v.entries {
			if n == 0 {
				break
			}
			delete(v.entries, key)
			n--
		}
	}
	v.entries[k] = e
}

// verifyPeer verifies the certificates a client presented, once per
// distinct chain while it stays valid, and says who the client is. A
// refusal is a *tls.CertificateVerificationError, as crypto/tls's own, so
// that handshake failures are classified the same way.
func (a *Authority) verifyPeer(certs []*x509.Certificate, now time.Time) (regcenter.Identity, error) {
	if len(certs) == 0 {
		return regcenter.Identity{}, fmt.Errorf("%w: no client certificate", ErrNoIdentity)
	}
	k := chainKey(certs)
	if id, ok := a.verified.get(k, now); ok {
		return id, nil
	}
	opts := x509.VerifyOptions{
		Roots:         a.pool,
		Intermediates: x509.NewCertPool(),
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return regcenter.Identity{}, &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	id, err := a.identifyChains(chains)
	if err != nil {
		return regcenter.Identity{}, err
	}
	e := verifiedChain{id: id, notBefore: chains[0][0].NotBefore, notAfter: chains[0][0].NotAfter}
	for _, chain := range chains {
		for _, c := range chain {
			if c.NotBefore.After(e.notBefore) {
				e.notBefore = c.NotBefore
			}
			if c.NotAfter.Before(e.notAfter) {
				e.notAfter = c.NotAfter
			}
		}
	}
	a.verified.put(k, e)
	return id, nil
}
