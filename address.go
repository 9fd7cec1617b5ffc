package regcenter

import (
	"net/netip"
	"strings"
)

// MaxAddresses bounds the address information of one platform or device.
const MaxAddresses = 8

// Address is one way to reach a cloud management platform. Switches try a
// platform's addresses in order.
type Address struct {
	Host string `json:"host"` // a DNS name or an IP literal
	Port int    `json:"port"`
}

// ValidateAddresses checks a platform's or a device's address list: 1 to
// MaxAddresses entries, each host a DNS name or an IP literal, each port
// 1-65535. It returns an *Error of kind ErrInvalid naming the bad entry.
func ValidateAddresses(addrs []Address) error {
	if len(addrs) == 0 || len(addrs) > MaxAddresses {
		return Errorf(ErrInvalid, CodeInvalid, "addresses must hold 1 to %d entries", MaxAddresses)
	}
	for i, a := range addrs {
		if a.Port < 1 || a.Port > 65535 {
			return Errorf(ErrInvalid, CodeInvalid, "addresses[%d]: port must be 1 to 65535", i)
		}
		if ValidateHost(a.Host) != nil {
			return Errorf(ErrInvalid, CodeInvalid, "addresses[%d]: host must be a DNS name or an IP literal", i)
		}
	}
	return nil
}

// ValidateHost checks that h is a DNS name or an IP literal (without a
// zone), as an address's host must be. It returns an *Error of kind
// ErrInvalid.
func ValidateHost(h string) error {
	if !validHost(h) {
		return Errorf(ErrInvalid, CodeInvalid, "host %q must be a DNS name or an IP literal", h)
	}
	return nil
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		// A zone ("fe80::1%eth0") means nothing on another machine.
		return !strings.Contains(h, "%")
	}
	return validDNSName(h)
}

// validDNSName accepts a host name in the preferred syntax of RFC 1123
// (letters, digits and hyphens; labels of 1-63 characters not starting or
// ending with a hyphen; at most 253 characters; one trailing dot allowed).
// A name made only of digits and dots is refused, since it would be read as
// a malformed IPv4 address.
func validDNSName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	allNumeric := true
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-':
				allNumeric = false
			default:
				return false
			}
		}
	}
	return !allNumeric
}

func equalAddresses(a, b []Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
