// Package wire is the JSON form of the center's API, version 1: the one
// definition that the server (httpapi) and the Go client (client) share, so
// that the two can never drift apart. It holds shapes and their conversion
// to and from the domain, nothing else; it must never import net/http.
package wire

import (
	"time"

	"github.com/regcenter/regcenter"
)

// Address is a host and port; the domain's type already has its JSON form.
type Address = regcenter.Address

// Platform is the body of PUT /v1/platform's answer and of GET /v1/platform.
type Platform struct {
	ID          string    `json:"id"`
	Addresses   []Address `json:"addresses"`
	TrustAnchor string    `json:"trust_anchor"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func FromPlatform(p regcenter.Platform) Platform {
	return Platform{ID: p.ID, Addresses: p.Addresses, TrustAnchor: p.TrustAnchor, UpdatedAt: p.UpdatedAt}
}

func (p Platform) Domain() regcenter.Platform {
	return regcenter.Platform{ID: p.ID, Addresses: p.Addresses, TrustAnchor: p.TrustAnchor, UpdatedAt: p.UpdatedAt}
}

// PutPlatformRequest is the body of PUT /v1/platform.
type PutPlatformRequest struct {
	Addresses   []Address `json:"addresses"`
	TrustAnchor string    `json:"trust_anchor,omitempty"`
}

// UploadItem is one device of POST /v1/devices.
type UploadItem struct {
	ESN        string    `json:"esn"`
	DeviceType string    `json:"device_type"`
	Addresses  []Address `json:"addresses,omitempty"`
}

// UploadRequest is the body of POST /v1/devices.
type UploadRequest struct {
	Devices []UploadItem `json:"devices"`
}

func FromUploads(items []regcenter.DeviceUpload) UploadRequest {
	req := UploadRequest{Devices: make([]UploadItem, len(items))}
	for i, it := range items {
		req.Devices[i] = UploadItem{ESN: it.ESN, DeviceType: it.DeviceType, Addresses: it.Addresses}
	}
	return req
}

func (r UploadRequest) Domain() []regcenter.DeviceUpload {
	items := make([]regcenter.DeviceUpload, len(r.Devices))
	for i, d := range r.Devices {
		items[i] = regcenter.DeviceUpload{ESN: d.ESN, DeviceType: d.DeviceType, Addresses: d.Addresses}
	}
	return items
}

// UploadResult is one item of POST /v1/devices's answer.
type UploadResult struct {
	ESN    string                  `json:"esn"`
	Result regcenter.UploadOutcome `json:"result"`
	Detail string                  `json:"detail,omitempty"`
}

// UploadCounts counts the results by outcome.
type UploadCounts struct {
	Created   int `json:"created"`
	Unchanged int `json:"unchanged"`
	Updated   int `json:"updated"`
	Conflict  int `json:"conflict"`
	Invalid   int `json:"invalid"`
}

// UploadResponse is POST /v1/devices's answer.
type UploadResponse struct {
	Results []UploadResult `json:"results"`
	Counts  UploadCounts   `json:"counts"`
}

func FromUploadReport(r regcenter.UploadReport) UploadResponse {
	resp := UploadResponse{Results: make([]UploadResult, len(r.Results)), Counts: UploadCounts(r.Counts)}
	for i, res := range r.Results {
		resp.Results[i] = UploadResult(res)
	}
	return resp
}

func (r UploadResponse) Domain() regcenter.UploadReport {
	rep := regcenter.UploadReport{Results: make([]regcenter.UploadResult, len(r.Results)), Counts: regcenter.UploadCounts(r.Counts)}
	for i, res := range r.Results {
		rep.Results[i] = regcenter.UploadResult(res)
	}
	return rep
}

// Device is a platform's view of one of its devices.
type Device struct {
	ESN                 string         `json:"esn"`
	DeviceType          string         `json:"device_type"`
	Addresses           []Address      `json:"addresses,omitempty"`
	ClaimedAt           time.Time      `json:"claimed_at"`
	LastBootstrapAt     *time.Time     `json:"last_bootstrap_at,omitempty"`
	BootstrapCount      int64          `json:"bootstrap_count"`
	LastMode            regcenter.Mode `json:"last_mode,omitempty"`
	LastSoftwareVersion string         `json:"last_software_version,omitempty"`
}

func FromDevice(d regcenter.Device) Device {
	j := Device{
		ESN: d.ESN, DeviceType: d.DeviceType, Addresses: d.Addresses, ClaimedAt: d.ClaimedAt,
		BootstrapCount: d.BootstrapCount, LastMode: d.LastMode, LastSoftwareVersion: d.LastSoftwareVersion,
	}
	if !d.LastBootstrapAt.IsZero() {
		j.LastBootstrapAt = &d.LastBootstrapAt
	}
	return j
}

// Domain returns the device; PlatformID is the caller's and not on the wire.
func (d Device) Domain() regcenter.Device {
	dev := regcenter.Device{
		ESN: d.ESN, DeviceType: d.DeviceType, Addresses: d.Addresses, ClaimedAt: d.ClaimedAt,
		BootstrapCount: d.BootstrapCount, LastMode: d.LastMode, LastSoftwareVersion: d.LastSoftwareVersion,
	}
	if d.LastBootstrapAt != nil {
		dev.LastBootstrapAt = *d.LastBootstrapAt
	}
	return dev
}

// DevicePage is GET /v1/devices's answer.
type DevicePage struct {
	Devices []Device `json:"devices"`
	Next    string   `json:"next,omitempty"`
}

func FromDevicePage(p regcenter.DevicePage) DevicePage {
	page := DevicePage{Devices: make([]Device, len(p.Devices)), Next: p.Next}
	for i, d := range p.Devices {
		page.Devices[i] = FromDevice(d)
	}
	return page
}

func (p DevicePage) Domain() regcenter.DevicePage {
	page := regcenter.DevicePage{Devices: make([]regcenter.Device, len(p.Devices)), Next: p.Next}
	for i, d := range p.Devices {
		page.Devices[i] = d.Domain()
	}
	return page
}

// BootstrapRequest is the body of POST /v1/bootstrap.
type BootstrapRequest struct {
	ESN             string         `json:"esn"`
	DeviceType      string         `json:"device_type,omitempty"`
	SoftwareVersion string         `json:"software_version,omitempty"`
	Mode            regcenter.Mode `json:"mode"`
}

// BootstrapPlatform is where a switch's platform is.
type BootstrapPlatform struct {
	ID          string    `json:"id"`
	Addresses   []Address `json:"addresses"`
	TrustAnchor string    `json:"trust_anchor,omitempty"`
}

// BootstrapResponse is POST /v1/bootstrap's answer.
type BootstrapResponse struct {
	ESN      string            `json:"esn"`
	Platform BootstrapPlatform `json:"platform"`
}

func FromBootstrapAnswer(a regcenter.BootstrapAnswer) BootstrapResponse {
	return BootstrapResponse{ESN: a.ESN, Platform: BootstrapPlatform{ID: a.PlatformID, Addresses: a.Addresses, TrustAnchor: a.TrustAnchor}}
}

func (r BootstrapResponse) Domain() regcenter.BootstrapAnswer {
	return regcenter.BootstrapAnswer{ESN: r.ESN, PlatformID: r.Platform.ID, Addresses: r.Platform.Addresses, TrustAnchor: r.Platform.TrustAnchor}
}

// Problem is an RFC 9457 problem details object with the stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// ProblemType is the type URI of a code.
func ProblemType(code string) string { return "urn:regcenter:problem:" + code }

// Event is one line of GET /v1/events, a stream of newline-delimited JSON
// (application/x-ndjson). Cursor is what to pass as after= to resume.
type Event struct {
	Cursor          string              `json:"cursor"`
	Kind            regcenter.EventKind `json:"kind"`
	ESN             string              `json:"esn"`
	At              time.Time           `json:"at"`
	Count           int64               `json:"count"`
	Mode            regcenter.Mode      `json:"mode,omitempty"`
	SoftwareVersion string              `json:"software_version,omitempty"`
}

// EventsContentType is the media type of the events stream.
const EventsContentType = "application/x-ndjson"

func FromEvent(e regcenter.Event) Event {
	return Event{Cursor: e.Cursor(), Kind: e.Kind, ESN: e.ESN, At: e.At, Count: e.Count, Mode: e.Mode, SoftwareVersion: e.SoftwareVersion}
}

// Domain returns the event; PlatformID is the caller's and not on the wire.
func (e Event) Domain() (regcenter.Event, error) {
	seq, err := regcenter.ParseCursor(e.Cursor)
	if err != nil {
		return regcenter.Event{}, err
	}
	return regcenter.Event{Seq: seq, ESN: e.ESN, Kind: e.Kind, At: e.At, Count: e.Count, Mode: e.Mode, SoftwareVersion: e.SoftwareVersion}, nil
}
