package regcenter

import (
	"context"
	"strconv"
	"time"
)

// EventKind says what happened to a device.
type EventKind string

// EventBootstrap: the device asked the center where its platform is and
// was answered. A merged event stands for Count such answers.
const EventBootstrap EventKind = "bootstrap"

// Event is something a platform may follow about its own devices. Seq is
// assigned by the store and grows with every event; it is the cursor from
// which a follower resumes.
type Event struct {
	Seq             int64
	PlatformID      string
	ESN             string
	Kind            EventKind
	At              time.Time
	Count           int64
	Mode            Mode
	SoftwareVersion string
}

// MaxEventsPage bounds one read of events.
const MaxEventsPage = 1000

// Cursor is the opaque form of an event's position, as clients see it.
func (e Event) Cursor() string { return strconv.FormatInt(e.Seq, 10) }

// ParseCursor reads a cursor given by a client; "" is the beginning.
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, Errorf(ErrInvalid, CodeInvalid, "after must be a cursor from an earlier event")
	}
	return n, nil
}

// Events returns the caller's events after the cursor, oldest first, at
// most limit (1 to MaxEventsPage).
// Errors: ErrForbidden, ErrInvalid.
func (s *Service) Events(ctx context.Context, caller Identity, after int64, limit int) ([]Event, error) {
	if err := caller.Require(RolePlatform); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxEventsPage {
		return nil, Errorf(ErrInvalid, CodeInvalid, "limit must be 1 to %d", MaxEventsPage)
	}
	return s.store.Events(ctx, caller.ID, after, limit)
}
