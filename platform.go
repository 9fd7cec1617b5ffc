package regcenter

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"time"
)

// MaxTrustAnchorSize bounds the PEM bundle a platform publishes.
const MaxTrustAnchorSize = 64 << 10

// MaxPlatformIDLength bounds a platform's ID (its certificate's CN).
const MaxPlatformIDLength = 128

// Platform is a cloud management platform's published address information:
// what switches it claimed receive when they ask the center.
type Platform struct {
	ID          string
	Addresses   []Address
	TrustAnchor string // PEM CA bundle with which switches verify the platform; may be empty
	UpdatedAt   time.Time
}

// ValidatePlatformID checks an ID taken from a platform certificate's CN.
func ValidatePlatformID(id string) error {
	if id == "" || len(id) > MaxPlatformIDLength {
		return Errorf(ErrInvalid, CodeInvalid, "platform ID must be 1 to %d characters", MaxPlatformIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return Errorf(ErrInvalid, CodeInvalid, "platform ID must be printable ASCII without spaces")
		}
	}
	return nil
}

// ValidateTrustAnchor checks that a trust anchor is empty or a bundle of
// PEM "CERTIFICATE" blocks that parse, with nothing else in it.
func ValidateTrustAnchor(bundle string) error {
	if bundle == "" {
		return nil
	}
	if len(bundle) > MaxTrustAnchorSize {
		return Errorf(ErrInvalid, CodeInvalid, "trust_anchor must be at most %d bytes", MaxTrustAnchorSize)
	}
	if _, err := ParseCertificates([]byte(bundle)); err != nil {
		return Errorf(ErrInvalid, CodeInvalid, "trust_anchor: %s", detailOf(err))
	}
	return nil
}

// ParseCertificates reads a PEM bundle of certificates: a trust anchor, a
// CA file. A block of another type, data after the last block, or a bundle
// without any certificate is an error of kind ErrInvalid: a trust store
// that silently loaded less than it holds fails in confusing ways later.
func ParseCertificates(bundle []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, Errorf(ErrInvalid, CodeInvalid, "PEM block %d is %q, not CERTIFICATE", len(certs)+1, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, Errorf(ErrInvalid, CodeInvalid, "certificate %d does not parse: %v", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, Errorf(ErrInvalid, CodeInvalid, "data after the last PEM block: it must be PEM certificates and nothing else")
	}
	if len(certs) == 0 {
		return nil, Errorf(ErrInvalid, CodeInvalid, "no PEM certificate")
	}
	return certs, nil
}
