package cmp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/cmp/cmpwire"
)

// DefaultHeartbeatInterval is how often switches heartbeat unless the
// platform is configured otherwise.
const DefaultHeartbeatInterval = 30 * time.Second

// Config holds a Service's dependencies. Store and PlatformID are
// required.
type Config struct {
	Store      Store
	PlatformID string // the CN of the platform's certificate, told to switches
	// HeartbeatInterval is how often switches are told to heartbeat
	// (default DefaultHeartbeatInterval).
	HeartbeatInterval time.Duration
	Now               func() time.Time // default time.Now
}

// Service enforces the platform's rules over a Store. It is safe for
// concurrent use.
type Service struct {
	store      Store
	platformID string
	interval   time.Duration
	now        func() time.Time
	// queued holds a token when the outbox got an entry that no Syncer
	// has looked at yet.
	queued chan struct{}
}

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: cfg.Store, platformID: cfg.PlatformID, interval: cfg.HeartbeatInterval, now: cfg.Now, queued: make(chan struct{}, 1)}
}

// PlatformID is the platform's ID at the center.
func (s *Service) PlatformID() string { return s.platformID }

// HeartbeatInterval is how often switches must heartbeat.
func (s *Service) HeartbeatInterval() time.Duration { return s.interval }

// Queued receives a value after an import or a delete put something in the
// outbox: a Syncer waits on it so that new work goes out at once.
func (s *Service) Queued() <-chan struct{} { return s.queued }

func (s *Service) wake() {
	select {
	case s.queued <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// ImportRow is one device of an import as the administrator wrote it.
// Line locates it for the error report: the CSV line (the header is line
// 1), or the JSON index plus one.
type ImportRow struct {
	Line       int
	ESN        string
	DeviceType string
	// Problem, set by a parser that could not read the row (a CSV line
	// with three fields), makes the row bad with this detail, so that it
	// is reported with all the others.
	Problem string
}

// RowError names one bad row of a refused import.
type RowError struct {
	Line   int
	ESN    string
	Detail string
}

// ImportError refuses a whole import and lists every bad row, in line
// order. It unwraps to an *regcenter.Error of kind ErrInvalid, so a
// transport that knows nothing of rows still answers 400.
type ImportError struct {
	Rows []RowError
}

func (e *ImportError) Error() string {
	return fmt.Sprintf("import refused: %s", e.summary())
}

func (e *ImportError) summary() string {
	if len(e.Rows) == 1 {
		return "1 bad row; nothing was imported"
	}
	return strconv.Itoa(len(e.Rows)) + " bad rows; nothing was imported"
}

func (e *ImportError) Unwrap() error {
	return regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "%s", e.summary())
}

// ImportReport counts what an accepted import did.
type ImportReport struct {
	Imported  int // new devices
	Unchanged int // already imported with the same type
	Updated   int // already imported with another type
}

// Import validates every row and, only if all are valid and no ESN
// appears twice, stores them all with their outbox claims in one
// transaction. Rows are imported whole or not at all.
// Errors: *ImportError (bad rows; kind ErrInvalid), ErrInvalid (no row),
// ErrTooLarge (more than MaxImportDevices), and the store's.
func (s *Service) Import(ctx context.Context, rows []ImportRow) (ImportReport, error) {
	if len(rows) == 0 {
		return ImportReport{}, regcenter.Errorf(regcenter.ErrInvalid, regcenter.CodeInvalid, "the import holds no device")
	}
	if len(rows) > MaxImportDevices {
		return ImportReport{}, regcenter.Errorf(regcenter.ErrTooLarge, regcenter.CodeTooLarge, "at most %d devices per import; split the file", MaxImportDevices)
	}
	var bad []RowError
	items := make([]ImportItem, 0, len(rows))
	lines := make(map[string][]int, len(rows))
	for _, r := range rows {
		if r.Problem != "" {
			bad = append(bad, RowError{Line: r.Line, ESN: r.ESN, Detail: r.Problem})
			continue
		}
		esn, err := regcenter.NormalizeESN(r.ESN)
		if err == nil {
			err = regcenter.ValidateDeviceType(r.DeviceType)
		}
		if err != nil {
			bad = append(bad, RowError{Line: r.Line, ESN: r.ESN, Detail: detailOf(err)})
			continue
		}
		if len(lines[esn]) == 0 {
			items = append(items, ImportItem{ESN: esn, DeviceType: r.DeviceType})
		}
		lines[esn] = append(lines[esn], r.Line)
	}
	for esn, ls := range lines {
		if len(ls) < 2 {
			continue
		}
		names := make([]string, len(ls))
		for i, l := range ls {
			names[i] = strconv.Itoa(l)
		}
		detail := "ESN " + esn + " appears more than once, on lines " + strings.Join(names, ", ")
		for _, l := range ls {
			bad = append(bad, RowError{Line: l, ESN: esn, Detail: detail})
		}
	}
	if len(bad) > 0 {
		slices.SortStableFunc(bad, func(a, b RowError) int { return a.Line - b.Line })
		return ImportReport{}, &ImportError{Rows: bad}
	}

	outcomes, err := s.store.ImportDevices(ctx, items, s.timestamp())
	if err != nil {
		return ImportReport{}, err
	}
	s.wake()
	var rep ImportReport
	for _, o := range outcomes {
		switch o {
		case regcenter.OutcomeCreated:
			rep.Imported++
		case regcenter.OutcomeUpdated:
			rep.Updated++
		default:
			rep.Unchanged++
		}
	}
	return rep, nil
}

func detailOf(err error) string {
	if e, ok := regcenter.AsError(err); ok {
		return e.Detail
	}
	return "invalid"
}

// Devices lists every device with its State as of now, in ESN order.
func (s *Service) Devices(ctx context.Context) ([]Device, error) {
	devs, err := s.store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range devs {
		devs[i].State = devs[i].state(now, s.interval)
	}
	return devs, nil
}

// Device returns one device with its State as of now.
// Errors: ErrInvalid (bad ESN), ErrNotFound.
func (s *Service) Device(ctx context.Context, esn string) (Device, error) {
	esn, err := regcenter.NormalizeESN(esn)
	if err != nil {
		return Device{}, err
	}
	d, err := s.store.Device(ctx, esn)
	if errors.Is(err, regcenter.ErrNotFound) {
		return Device{}, errNoDevice()
	}
	if err != nil {
		return Device{}, err
	}
	d.State = d.state(s.now(), s.interval)
	return d, nil
}

func errNoDevice() error {
	return regcenter.Errorf(regcenter.ErrNotFound, regcenter.CodeNotFound, "no such device")
}

// Delete removes a device and queues its release at the center.
// Errors: ErrInvalid (bad ESN), ErrNotFound.
func (s *Service) Delete(ctx context.Context, esn string) error {
	esn, err := regcenter.NormalizeESN(esn)
	if err != nil {
		return err
	}
	err = s.store.DeleteDevice(ctx, esn, s.timestamp())
	if errors.Is(err, regcenter.ErrNotFound) {
		return errNoDevice()
	}
	if err != nil {
		return err
	}
	s.wake()
	return nil
}

// Register records the registration of the caller, a switch. r.ESN must
// be the caller's own and imported into this platform; r.At is set.
// Errors: ErrForbidden (not a device; code esn_mismatch for another ESN;
// code unknown_device for an ESN not imported), ErrInvalid.
func (s *Service) Register(ctx context.Context, caller regcenter.Identity, r Registration) (Registration, error) {
	esn, err := s.ownESN(caller, r.ESN)
	if err != nil {
		return Registration{}, err
	}
	if r.DeviceType != "" {
		if err := regcenter.ValidateDeviceType(r.DeviceType); err != nil {
			return Registration{}, err
		}
	}
	if err := regcenter.ValidateSoftwareVersion(r.SoftwareVersion); err != nil {
		return Registration{}, err
	}
	r.ESN, r.At = esn, s.timestamp()
	if err := s.store.Register(ctx, r); err != nil {
		return Registration{}, unknownDevice(err)
	}
	return r, nil
}

// Heartbeat records a sign of life of the caller, a switch.
// Errors: ErrForbidden (as Register), ErrInvalid, ErrConflict (code
// not_registered: the switch must register first).
func (s *Service) Heartbeat(ctx context.Context, caller regcenter.Identity, esn string) error {
	esn, err := s.ownESN(caller, esn)
	if err != nil {
		return err
	}
	err = s.store.Heartbeat(ctx, esn, s.timestamp())
	if errors.Is(err, regcenter.ErrConflict) {
		return regcenter.Errorf(regcenter.ErrConflict, cmpwire.CodeNotRegistered, "register (POST /v1/register) before heartbeating")
	}
	return unknownDevice(err)
}

// ownESN checks that a switch speaks of its own ESN, as the center does.
func (s *Service) ownESN(caller regcenter.Identity, esn string) (string, error) {
	if err := caller.Require(regcenter.RoleDevice); err != nil {
		return "", err
	}
	esn, err := regcenter.NormalizeESN(esn)
	if err != nil {
		return "", err
	}
	if esn != caller.ID {
		return "", regcenter.Errorf(regcenter.ErrForbidden, regcenter.CodeESNMismatch, "the ESN is not the one in the device certificate")
	}
	return esn, nil
}

func unknownDevice(err error) error {
	if errors.Is(err, regcenter.ErrNotFound) {
		return regcenter.Errorf(regcenter.ErrForbidden, cmpwire.CodeUnknownDevice, "this device was not imported into this platform")
	}
	return err
}

// timestamp is the time recorded with a change: UTC, to the microsecond,
// which the store keeps exactly.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}
