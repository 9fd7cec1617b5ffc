package regcenter

import (
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
	rest := []byte(bundle)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return Errorf(ErrInvalid, CodeInvalid, "trust_anchor: PEM block %d is %q, not CERTIFICATE", n+1, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return Errorf(ErrInvalid, CodeInvalid, "trust_anchor: certificate %d does not parse", n+1)
		}
		n++
	}
	if n == 0 || len(trimSpace(rest)) != 0 {
		return Errorf(ErrInvalid, CodeInvalid, "trust_anchor must be PEM certificates and nothing else")
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
