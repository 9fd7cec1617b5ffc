package cmp

import (
	"context"
	"time"

	"github.com/regcenter/regcenter"
)

// DeviceStore keeps the imported devices. Errors of kind
// regcenter.ErrNotFound report a device that is not there; a store that
// cannot be reached reports an error wrapping regcenter.ErrUnavailable.
type DeviceStore interface {
	// ImportDevices stores items (distinct, valid ESNs) in one durable
	// transaction, together with the outbox claims they need, and returns
	// each item's outcome: created (new device), updated (its type
	// changed: back to imported, claimed again) or unchanged. An unchanged
	// device whose claim the center refused (conflict, invalid) is queued
	// again, so that importing it again retries it. Any error: nothing was
	// stored.
	ImportDevices(ctx context.Context, items []ImportItem, now time.Time) ([]regcenter.UploadOutcome, error)
	// Devices returns every device in bytewise ESN order.
	Devices(ctx context.Context) ([]Device, error)
	// Device returns one device or ErrNotFound.
	Device(ctx context.Context, esn string) (Device, error)
	// DeleteDevice removes the device and queues its release at the
	// center, in one durable transaction; or returns ErrNotFound.
	DeleteDevice(ctx context.Context, esn string, now time.Time) error
	// Register records a switch's registration (and forgets its earlier
	// heartbeats), or returns ErrNotFound when esn was not imported.
	Register(ctx context.Context, r Registration) error
	// Heartbeat records a sign of life at at. It returns ErrNotFound when
	// esn was not imported and ErrConflict when it never registered.
	Heartbeat(ctx context.Context, esn string, at time.Time) error
}

// OutboxStore keeps what the center has not acknowledged yet.
type OutboxStore interface {
	// Outbox returns at most limit entries, oldest first.
	Outbox(ctx context.Context, limit int) ([]OutboxEntry, error)
	// Acknowledge removes the acknowledged entries and applies their
	// states to the devices, in one durable transaction. An ack whose Seq
	// is no longer in the outbox (a newer intent replaced it) changes
	// nothing.
	Acknowledge(ctx context.Context, acks []Ack, now time.Time) error
}

// EventStore keeps what the platform learnt from the center's events.
type EventStore interface {
	// EventCursor is the cursor after the last event applied ("" before
	// the first).
	EventCursor(ctx context.Context) (string, error)
	// ApplyEvent adds e to its device's center statistics (if the device
	// is here) and stores e's cursor, in one transaction, so that an event
	// is applied exactly once across restarts.
	ApplyEvent(ctx context.Context, e regcenter.Event) error
}

// Store is everything the platform keeps.
type Store interface {
	DeviceStore
	OutboxStore
	EventStore
	Close() error
}
