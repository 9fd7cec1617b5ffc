package regcenter

import (
	"context"
	"time"
)

// PlatformStore keeps the platforms' published address information.
type PlatformStore interface {
	// PutPlatform creates or replaces the record of p.ID. It is durable
	// when it returns nil.
	PutPlatform(ctx context.Context, p Platform) error
	// Platform returns the record of id, or ErrNotFound if id never
	// published one.
	Platform(ctx context.Context, id string) (Platform, error)
}

// DeviceStore keeps the platforms' claims on serial numbers. Every method
// sees only the devices of platformID: a device held by another platform
// is reported exactly as one that does not exist.
type DeviceStore interface {
	// ClaimDevices applies claims for platformID in one transaction that is
	// durable when it returns nil. outcomes[i] is claims[i]'s: created,
	// unchanged, updated (decided by DeviceClaim.Outcome), or conflict when
	// another platform holds the ESN. Claims hold distinct ESNs. On error
	// (including a context that ended) nothing was stored. Concurrent calls
	// with overlapping ESNs must both succeed, whatever their order.
	ClaimDevices(ctx context.Context, platformID string, claims []DeviceClaim, now time.Time) (outcomes []UploadOutcome, err error)
	// Device returns platformID's device esn, or ErrNotFound.
	Device(ctx context.Context, platformID, esn string) (Device, error)
	// Devices returns at most limit of platformID's devices whose ESN sorts
	// after after (all of them when after is ""), in bytewise ESN order
	// (no locale collation), so that cursors mean the same on every store.
	Devices(ctx context.Context, platformID, after string, limit int) ([]Device, error)
	// ReleaseDevice durably deletes platformID's claim on esn, with its
	// bootstrap statistics, so that another platform may claim it afresh;
	// or returns ErrNotFound.
	ReleaseDevice(ctx context.Context, platformID, esn string) error
}

// BootstrapStore serves the switches' hot path.
type BootstrapStore interface {
	// BootstrapTarget returns the claim on esn and the record of the
	// platform that holds it, in one read. The Device carries the claim
	// only: its bootstrap statistics are zero, so that a store may keep
	// answers in memory without the statistics of every answer changing
	// them. It returns ErrNotFound when no
	// platform holds esn; the Platform is the zero value (but for its ID)
	// when the holder never published its addresses.
	BootstrapTarget(ctx context.Context, esn string) (Device, Platform, error)
	// RecordBootstraps adds a batch of observations: for each, the count
	// grows by Count and the last_* fields take the record's values when it
	// is as new as or newer than what is stored. Increments are applied
	// atomically in the store, so that
	// several center replicas never lose one. A record whose ESN is no
	// longer held by PlatformID is dropped. Each record applied also
	// appends one EventBootstrap event, in the same transaction.
	RecordBootstraps(ctx context.Context, records []BootstrapRecord) error
}

// EventStore keeps what platforms may follow about their devices.
type EventStore interface {
	// Events returns at most limit of platformID's events with Seq greater
	// than after, in Seq order. Seq values are unique and increase in the
	// order events become visible to readers.
	Events(ctx context.Context, platformID string, after int64, limit int) ([]Event, error)
	// PruneEvents deletes the events that happened before before and
	// returns how many it deleted.
	PruneEvents(ctx context.Context, before time.Time) (int64, error)
}

// Store is everything the center keeps. Implementations report a store
// they cannot reach as an error wrapping ErrUnavailable.
type Store interface {
	PlatformStore
	DeviceStore
	BootstrapStore
	EventStore
	// Ping reports whether the store answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// BootstrapRecord is what the center saw of one or more answered bootstrap
// requests of one device, merged.
type BootstrapRecord struct {
	ESN             string
	PlatformID      string
	At              time.Time // the latest request's time
	Count           int64     // how many requests this record stands for
	Mode            Mode
	SoftwareVersion string
}
