package regcenter

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of failure a caller can act on. Every *Error carries one of
// them; transports map each kind to a status in exactly one place.
var (
	ErrInvalid     = errors.New("invalid")
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrForbidden   = errors.New("forbidden")
	ErrTooLarge    = errors.New("too large")
	ErrUnavailable = errors.New("unavailable")
)

// Stable machine-readable codes. Clients switch on these, so they never
// change meaning once released.
const (
	CodeInvalid               = "invalid_request"
	CodeNotFound              = "not_found"
	CodeNotClaimed            = "not_claimed"
	CodePlatformNotConfigured = "platform_not_configured"
	CodeForbidden             = "forbidden"
	CodeWrongRole             = "wrong_role"
	CodeESNMismatch           = "esn_mismatch"
	CodeTooLarge              = "too_large"
	CodeStoreUnavailable      = "store_unavailable"
)

// Error is the one error type that crosses from the domain to a client.
// Detail is written for the client and must never contain internal state
// or anything about another platform; anything else is logged, not sent.
type Error struct {
	Kind       error  // one of the Err* kinds above
	Code       string // stable code, e.g. CodeESNMismatch
	Detail     string // human-readable, safe to send
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

// Unwrap lets errors.Is(err, ErrNotFound) see the kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind and code.
func Errorf(kind error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Detail: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, if there is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
