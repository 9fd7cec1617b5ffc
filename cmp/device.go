package cmp

import (
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

// MissedHeartbeats is how many heartbeat intervals may pass without a sign
// of life before a registered device is shown offline.
const MissedHeartbeats = 3

// MaxImportDevices bounds one import: a mistaken file should be refused,
// not fill the outbox.
const MaxImportDevices = 100_000

// Device is a device imported into the platform, with what the center and
// the switch have done since.
type Device struct {
	ESN        string
	DeviceType string
	// CenterState is where the claim stands at the center:
	// cmpwire.StateImported (in the outbox), StateClaimed, StateConflict or
	// StateInvalid.
	CenterState string
	Detail      string // the center's detail for conflict and invalid
	ImportedAt  time.Time
	ClaimedAt   time.Time // zero unless claimed

	// From the center's events: when the switch last asked the center,
	// and how often it did.
	LastCenterQuery time.Time
	CenterQueries   int64

	// From the switch itself.
	RegisteredAt    time.Time // zero until it registers
	RemoteAddr      string
	SoftwareVersion string
	LastHeartbeatAt time.Time // zero until its first heartbeat after registering

	// State is what an administrator sees; the Service derives it (see
	// Service.Devices) and stores never set it.
	State string
}

// state derives what an administrator sees: the center's state until the
// switch registers, then registered, online while its heartbeats come, and
// offline after MissedHeartbeats intervals without a sign of life.
func (d Device) state(now time.Time, interval time.Duration) string {
	if d.RegisteredAt.IsZero() {
		return d.CenterState
	}
	last, beating := d.RegisteredAt, false
	if !d.LastHeartbeatAt.IsZero() && !d.LastHeartbeatAt.Before(d.RegisteredAt) {
		last, beating = d.LastHeartbeatAt, true
	}
	switch {
	case now.Sub(last) > MissedHeartbeats*interval:
		return cmpwire.StateOffline
	case beating:
		return cmpwire.StateOnline
	default:
		return cmpwire.StateRegistered
	}
}

// ImportItem is one device to import, already validated and normalised.
type ImportItem struct {
	ESN        string
	DeviceType string
}

// Registration is what a switch told the platform when it registered.
type Registration struct {
	ESN             string
	DeviceType      string
	SoftwareVersion string
	RemoteAddr      string
	At              time.Time
}

// Op is what an outbox entry asks of the center.
type Op string

const (
	OpClaim   Op = "claim"   // POST /v1/devices
	OpRelease Op = "release" // DELETE /v1/devices/{esn}
)

// OutboxEntry is one thing the center has not acknowledged yet. An ESN has
// at most one entry: a newer intent (a delete after an import) replaces
// the older, with a new Seq.
type OutboxEntry struct {
	Seq        int64
	ESN        string
	Op         Op
	DeviceType string // of a claim
	QueuedAt   time.Time
}

// Ack is the center's answer to one outbox entry.
type Ack struct {
	Seq int64
	ESN string
	// State is the device's new CenterState after a claim (claimed,
	// conflict or invalid), with the center's Detail; empty for a release.
	State  string
	Detail string
}

// stateOf is the CenterState a claim's outcome leads to.
func stateOf(o regcenter.UploadOutcome) string {
	switch o {
	case regcenter.OutcomeCreated, regcenter.OutcomeUnchanged, regcenter.OutcomeUpdated:
		return cmpwire.StateClaimed
	case regcenter.OutcomeConflict:
		return cmpwire.StateConflict
	default:
		return cmpwire.StateInvalid
	}
}
