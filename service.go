package regcenter

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Limits of the API, the same whatever the transport.
const (
	MaxUploadDevices = 10_000 // devices in one upload
	MaxPageSize      = 1000   // devices in one listing page
	DefaultPageSize  = 100
)

// Service enforces the center's rules over a Store. It is safe for
// concurrent use.
type Service struct {
	store                Store
	recorder             *BootstrapRecorder
	now                  func() time.Time
	notClaimedRetryAfter time.Duration
}

// ServiceConfig holds a Service's dependencies. Store and Recorder are
// required.
type ServiceConfig struct {
	Store    Store
	Recorder *BootstrapRecorder
	Now      func() time.Time // default time.Now
	// NotClaimedRetryAfter is how long a switch whose ESN nobody holds
	// should wait before asking again (default 60s).
	NotClaimedRetryAfter time.Duration
}

// NewService returns a Service.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NotClaimedRetryAfter <= 0 {
		cfg.NotClaimedRetryAfter = 60 * time.Second
	}
	return &Service{store: cfg.Store, recorder: cfg.Recorder, now: cfg.Now, notClaimedRetryAfter: cfg.NotClaimedRetryAfter}
}

// PutPlatform publishes the caller's address information.
// Errors: ErrForbidden (not a platform), ErrInvalid.
func (s *Service) PutPlatform(ctx context.Context, caller Identity, addrs []Address, trustAnchor string) (Platform, error) {
	if err := caller.Require(RolePlatform); err != nil {
		return Platform{}, err
	}
	if err := ValidateAddresses(addrs); err != nil {
		return Platform{}, err
	}
	if err := ValidateTrustAnchor(trustAnchor); err != nil {
		return Platform{}, err
	}
	p := Platform{ID: caller.ID, Addresses: addrs, TrustAnchor: trustAnchor, UpdatedAt: s.timestamp()}
	if err := s.store.PutPlatform(ctx, p); err != nil {
		return Platform{}, err
	}
	return p, nil
}

// Platform returns the caller's published record.
// Errors: ErrForbidden, ErrNotFound (code platform_not_configured).
func (s *Service) Platform(ctx context.Context, caller Identity) (Platform, error) {
	if err := caller.Require(RolePlatform); err != nil {
		return Platform{}, err
	}
	p, err := s.store.Platform(ctx, caller.ID)
	if errors.Is(err, ErrNotFound) {
		return Platform{}, Errorf(ErrNotFound, CodePlatformNotConfigured, "this platform has not published its addresses yet (PUT /v1/platform)")
	}
	return p, err
}

// DeviceUpload is one item of a platform's upload, as the client sent it.
type DeviceUpload struct {
	ESN        string
	DeviceType string
	Addresses  []Address
}

// UploadResult is the outcome of one item, in the order of the upload.
type UploadResult struct {
	ESN    string
	Result UploadOutcome
	Detail string
}

// UploadCounts counts an upload's results by outcome.
type UploadCounts struct {
	Created, Unchanged, Updated, Conflict, Invalid int
}

func (c *UploadCounts) add(o UploadOutcome) {
	switch o {
	case OutcomeCreated:
		c.Created++
	case OutcomeUnchanged:
		c.Unchanged++
	case OutcomeUpdated:
		c.Updated++
	case OutcomeConflict:
		c.Conflict++
	case OutcomeInvalid:
		c.Invalid++
	}
}

// UploadReport answers an upload.
type UploadReport struct {
	Results []UploadResult
	Counts  UploadCounts
}

// detailConflict deliberately names no platform.
const detailConflict = "another platform holds this ESN"

// UploadDevices claims devices for the caller. Invalid items are reported
// and skipped; every valid item is stored in one transaction, or none is
// and the error is returned.
// Errors: ErrForbidden, ErrInvalid (empty upload), ErrTooLarge (more than
// MaxUploadDevices), and the store's.
func (s *Service) UploadDevices(ctx context.Context, caller Identity, items []DeviceUpload) (UploadReport, error) {
	if err := caller.Require(RolePlatform); err != nil {
		return UploadReport{}, err
	}
	if len(items) == 0 {
		return UploadReport{}, Errorf(ErrInvalid, CodeInvalid, "devices must hold at least one device")
	}
	if len(items) > MaxUploadDevices {
		return UploadReport{}, Errorf(ErrTooLarge, CodeTooLarge, "at most %d devices per request; split the upload", MaxUploadDevices)
	}

	results := make([]UploadResult, len(items))
	claims := make([]DeviceClaim, 0, len(items))
	claimIndex := make([]int, 0, len(items)) // claims[j] answers items[claimIndex[j]]
	seen := make(map[string]int, len(items))
	for i, it := range items {
		results[i].ESN = it.ESN
		esn, err := validateUpload(it)
		if err != nil {
			results[i].Result, results[i].Detail = OutcomeInvalid, detailOf(err)
			continue
		}
		results[i].ESN = esn
		if first, dup := seen[esn]; dup {
			results[i].Result = OutcomeInvalid
			results[i].Detail = "ESN appears more than once in this upload (first at index " + strconv.Itoa(first) + ")"
			continue
		}
		seen[esn] = i
		claims = append(claims, DeviceClaim{ESN: esn, DeviceType: it.DeviceType, Addresses: it.Addresses})
		claimIndex = append(claimIndex, i)
	}

	if len(claims) > 0 {
		outcomes, err := s.store.ClaimDevices(ctx, caller.ID, claims, s.timestamp())
		if err != nil {
			return UploadReport{}, err
		}
		for j, o := range outcomes {
			r := &results[claimIndex[j]]
			r.Result = o
			if o == OutcomeConflict {
				r.Detail = detailConflict
			}
		}
	}

	report := UploadReport{Results: results}
	for _, r := range results {
		report.Counts.add(r.Result)
	}
	return report, nil
}

func validateUpload(it DeviceUpload) (string, error) {
	esn, err := NormalizeESN(it.ESN)
	if err != nil {
		return "", err
	}
	if err := ValidateDeviceType(it.DeviceType); err != nil {
		return "", err
	}
	if it.Addresses != nil {
		if err := ValidateAddresses(it.Addresses); err != nil {
			return "", err
		}
	}
	return esn, nil
}

func detailOf(err error) string {
	if e, ok := AsError(err); ok {
		return e.Detail
	}
	return "invalid"
}

// Device returns one of the caller's devices.
// Errors: ErrForbidden, ErrInvalid (bad ESN), ErrNotFound (absent or not
// the caller's: the two are indistinguishable by design).
func (s *Service) Device(ctx context.Context, caller Identity, esn string) (Device, error) {
	if err := caller.Require(RolePlatform); err != nil {
		return Device{}, err
	}
	esn, err := NormalizeESN(esn)
	if err != nil {
		return Device{}, err
	}
	d, err := s.store.Device(ctx, caller.ID, esn)
	return d, notFound(err)
}

// DevicePage is one page of a listing; Next is the cursor of the next page,
// empty on the last.
type DevicePage struct {
	Devices []Device
	Next    string
}

// Devices lists the caller's devices in ESN order, after the cursor.
// limit 0 means DefaultPageSize.
// Errors: ErrForbidden, ErrInvalid (bad limit or cursor).
func (s *Service) Devices(ctx context.Context, caller Identity, after string, limit int) (DevicePage, error) {
	if err := caller.Require(RolePlatform); err != nil {
		return DevicePage{}, err
	}
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return DevicePage{}, Errorf(ErrInvalid, CodeInvalid, "limit must be 1 to %d", MaxPageSize)
	}
	if after != "" {
		var err error
		if after, err = NormalizeESN(after); err != nil {
			return DevicePage{}, Errorf(ErrInvalid, CodeInvalid, "after must be an ESN")
		}
	}
	// One more than asked tells whether another page follows.
	devs, err := s.store.Devices(ctx, caller.ID, after, limit+1)
	if err != nil {
		return DevicePage{}, err
	}
	page := DevicePage{Devices: devs}
	if len(devs) > limit {
		page.Devices = devs[:limit]
		page.Next = devs[limit-1].ESN
	}
	return page, nil
}

// ReleaseDevice drops the caller's claim on esn.
// Errors: ErrForbidden, ErrInvalid, ErrNotFound.
func (s *Service) ReleaseDevice(ctx context.Context, caller Identity, esn string) error {
	if err := caller.Require(RolePlatform); err != nil {
		return err
	}
	esn, err := NormalizeESN(esn)
	if err != nil {
		return err
	}
	return notFound(s.store.ReleaseDevice(ctx, caller.ID, esn))
}

// notFound gives a store's ErrNotFound the API's code for a device.
func notFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		if _, ok := AsError(err); !ok {
			return Errorf(ErrNotFound, CodeNotFound, "no such device")
		}
	}
	return err
}

// BootstrapRequest is what a switch sends when it asks for its platform.
type BootstrapRequest struct {
	ESN             string
	DeviceType      string
	SoftwareVersion string
	Mode            Mode
}

// BootstrapAnswer tells a switch where its platform is.
type BootstrapAnswer struct {
	ESN         string
	PlatformID  string
	Addresses   []Address
	TrustAnchor string
}

// Bootstrap answers a switch's question. The ESN asked about must be the
// caller's own, so that a device certificate never reveals the platform of
// another device.
// Errors: ErrForbidden (not a device; code esn_mismatch when the ESN is
// not the certificate's), ErrInvalid, ErrNotFound (code not_claimed, with
// RetryAfter).
func (s *Service) Bootstrap(ctx context.Context, caller Identity, req BootstrapRequest) (BootstrapAnswer, error) {
	if err := caller.Require(RoleDevice); err != nil {
		return BootstrapAnswer{}, err
	}
	esn, err := NormalizeESN(req.ESN)
	if err != nil {
		return BootstrapAnswer{}, err
	}
	if esn != caller.ID {
		return BootstrapAnswer{}, Errorf(ErrForbidden, CodeESNMismatch, "the ESN asked about is not the one in the client certificate")
	}
	if err := validateBootstrap(req); err != nil {
		return BootstrapAnswer{}, err
	}

	dev, platform, err := s.store.BootstrapTarget(ctx, esn)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return BootstrapAnswer{}, err
	}
	addrs := dev.Addresses
	if len(addrs) == 0 {
		addrs = platform.Addresses
	}
	if err != nil || len(addrs) == 0 {
		e := Errorf(ErrNotFound, CodeNotClaimed, "no platform has claimed this device yet; ask again later")
		e.RetryAfter = s.notClaimedRetryAfter
		return BootstrapAnswer{}, e
	}

	s.recorder.Record(BootstrapRecord{
		ESN: esn, PlatformID: dev.PlatformID, At: s.timestamp(), Count: 1,
		Mode: req.Mode, SoftwareVersion: req.SoftwareVersion,
	})
	return BootstrapAnswer{ESN: esn, PlatformID: dev.PlatformID, Addresses: addrs, TrustAnchor: platform.TrustAnchor}, nil
}

func validateBootstrap(req BootstrapRequest) error {
	if req.Mode != ModeTraditional && req.Mode != ModeCloud {
		return Errorf(ErrInvalid, CodeInvalid, "mode must be %q or %q", ModeTraditional, ModeCloud)
	}
	if req.DeviceType != "" {
		if err := ValidateDeviceType(req.DeviceType); err != nil {
			return err
		}
	}
	return ValidateSoftwareVersion(req.SoftwareVersion)
}

// timestamp is the time recorded with a change: UTC, to the microsecond,
// which every store keeps exactly.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}
