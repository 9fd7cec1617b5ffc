package regcenter

// MaxESNLength is the longest serial number accepted. Vendors' ESNs are 20
// characters or fewer; 64 leaves room without inviting abuse.
const MaxESNLength = 64

// NormalizeESN validates an equipment serial number and returns its
// canonical form (upper case). ESNs are 1 to 64 characters of A-Z, 0-9,
// '-', '_' and '.', compared case-insensitively.
// It returns an *Error of kind ErrInvalid.
func NormalizeESN(s string) (string, error) {
	if len(s) == 0 || len(s) > MaxESNLength {
		return "", Errorf(ErrInvalid, CodeInvalid, "ESN must be 1 to %d characters", MaxESNLength)
	}
	// One pass that validates and finds whether any byte needs upper-casing:
	// the common case (already canonical) then returns s without allocating.
	lower := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c >= 'a' && c <= 'z':
			lower = true
		default:
			return "", Errorf(ErrInvalid, CodeInvalid, "ESN may contain only A-Z, 0-9, '-', '_' and '.'")
		}
	}
	if !lower {
		return s, nil
	}
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b), nil
}
