// Package cmpwire is the JSON form of the reference cloud management
// platform's two APIs: the device API that switches call over mutual TLS
// (register, heartbeat) and the administrator's API on the loopback admin
// listener. The platform's server and its clients (the switch agent, the
// import command) share it. It holds shapes only and must never import
// net/http or anything of the platform's implementation.
package cmpwire

import "time"

// Codes the platform answers with, besides the center's generic ones.
const (
	CodeUnknownDevice = "unknown_device" // 403: the ESN was not imported into this platform
	CodeNotRegistered = "not_registered" // 409: a heartbeat before a registration
)

// RegisterRequest is the body of POST /v1/register. The ESN must be the
// one of the device certificate the switch presents.
type RegisterRequest struct {
	ESN             string `json:"esn"`
	DeviceType      string `json:"device_type"`
	SoftwareVersion string `json:"software_version,omitempty"`
}

// RegisterResponse answers a registration; the switch then heartbeats
// every HeartbeatIntervalSeconds.
type RegisterResponse struct {
	ESN                      string    `json:"esn"`
	PlatformID               string    `json:"platform_id"`
	RegisteredAt             time.Time `json:"registered_at"`
	HeartbeatIntervalSeconds int       `json:"heartbeat_interval_seconds"`
}

// HeartbeatRequest is the body of POST /v1/heartbeat.
type HeartbeatRequest struct {
	ESN string `json:"esn"`
}

// HeartbeatResponse answers a heartbeat.
type HeartbeatResponse struct {
	HeartbeatIntervalSeconds int `json:"heartbeat_interval_seconds"`
}

// ImportItem is one device an administrator imports.
type ImportItem struct {
	ESN        string `json:"esn"`
	DeviceType string `json:"device_type"`
}

// ImportRequest is the JSON body of POST /admin/devices (a CSV body with
// the header esn,device_type is the other form).
type ImportRequest struct {
	Devices []ImportItem `json:"devices"`
}

// ImportResponse answers an import that was accepted whole.
type ImportResponse struct {
	Imported  int `json:"imported"`  // new devices
	Unchanged int `json:"unchanged"` // already imported with the same type
	Updated   int `json:"updated"`   // already imported, type changed
}

// ImportError names one bad row of a refused import. Line is the CSV line
// (the header is line 1) or, for JSON, the index in devices plus one.
type ImportError struct {
	Line   int    `json:"line"`
	ESN    string `json:"esn,omitempty"`
	Detail string `json:"detail"`
}

// ImportProblem is the RFC 9457 answer of a refused import: nothing of
// the file was imported, and Errors lists every bad row.
type ImportProblem struct {
	Type   string        `json:"type"`
	Title  string        `json:"title"`
	Status int           `json:"status"`
	Detail string        `json:"detail"`
	Code   string        `json:"code"`
	Errors []ImportError `json:"errors"`
}

// Device states, in the order a device goes through them.
const (
	StateImported   = "imported"   // in the outbox, not yet uploaded to the center
	StateClaimed    = "claimed"    // the center accepted the claim
	StateConflict   = "conflict"   // another platform holds the ESN at the center
	StateInvalid    = "invalid"    // the center refused the item
	StateRegistered = "registered" // the switch registered with this platform
	StateOnline     = "online"     // registered and heartbeating
	StateOffline    = "offline"    // registered, but 3 heartbeats were missed
)

// AdminDevice is one device of GET /admin/devices.
type AdminDevice struct {
	ESN             string     `json:"esn"`
	DeviceType      string     `json:"device_type"`
	State           string     `json:"state"`
	Detail          string     `json:"detail,omitempty"` // the center's detail for conflict/invalid
	ImportedAt      time.Time  `json:"imported_at"`
	ClaimedAt       *time.Time `json:"claimed_at,omitempty"`
	LastCenterQuery *time.Time `json:"last_center_query_at,omitempty"` // from the center's events
	CenterQueries   int64      `json:"center_queries"`
	RegisteredAt    *time.Time `json:"registered_at,omitempty"`
	RemoteAddr      string     `json:"remote_addr,omitempty"`
	SoftwareVersion string     `json:"software_version,omitempty"`
	LastHeartbeatAt *time.Time `json:"last_heartbeat_at,omitempty"`
}

// AdminDevices is GET /admin/devices's answer, in ESN order.
type AdminDevices struct {
	Devices []AdminDevice `json:"devices"`
}
