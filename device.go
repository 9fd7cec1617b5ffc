package regcenter

import "time"

// MaxDeviceTypeLength bounds a device type ("S5735-L24T4S-A").
const MaxDeviceTypeLength = 64

// MaxSoftwareVersionLength bounds the software version a switch reports.
const MaxSoftwareVersionLength = 128

// Mode is a switch's management mode.
type Mode string

const (
	ModeTraditional Mode = "traditional" // configured locally, not yet cloud-managed
	ModeCloud       Mode = "cloud"       // managed by its cloud management platform
)

// Device is a claim of a platform on a serial number, with what the center
// saw of the switch's bootstrap requests.
type Device struct {
	ESN        string
	DeviceType string
	PlatformID string
	// Addresses, when not empty, override the platform's for this device.
	Addresses []Address
	ClaimedAt time.Time

	LastBootstrapAt     time.Time // zero when the device never asked
	BootstrapCount      int64
	LastMode            Mode
	LastSoftwareVersion string
}

// ClaimOnly returns d without its bootstrap statistics: what
// BootstrapStore.BootstrapTarget answers.
func (d Device) ClaimOnly() Device {
	d.LastBootstrapAt, d.BootstrapCount, d.LastMode, d.LastSoftwareVersion = time.Time{}, 0, "", ""
	return d
}

// DeviceClaim is one item of a platform's upload, already validated and
// normalised by the Service.
type DeviceClaim struct {
	ESN        string
	DeviceType string
	Addresses  []Address
}

// UploadOutcome is what happened to one item of an upload.
type UploadOutcome string

const (
	OutcomeCreated   UploadOutcome = "created"
	OutcomeUnchanged UploadOutcome = "unchanged"
	OutcomeUpdated   UploadOutcome = "updated"
	OutcomeConflict  UploadOutcome = "conflict"
	OutcomeInvalid   UploadOutcome = "invalid"
)

// Outcome compares what a platform already holds with what it uploads.
// Stores call it so that every backend decides the same way.
func (c DeviceClaim) Outcome(held Device) UploadOutcome {
	if held.DeviceType == c.DeviceType && equalAddresses(held.Addresses, c.Addresses) {
		return OutcomeUnchanged
	}
	return OutcomeUpdated
}

// ValidateDeviceType checks a device type: 1 to MaxDeviceTypeLength
// printable ASCII characters. It returns an *Error of kind ErrInvalid. The
// reference platform checks its imports with it, so that nothing it
// accepts is refused by the center.
func ValidateDeviceType(t string) error {
	if t == "" || len(t) > MaxDeviceTypeLength {
		return Errorf(ErrInvalid, CodeInvalid, "device_type must be 1 to %d characters", MaxDeviceTypeLength)
	}
	return printable(t, "device_type")
}

// ValidateSoftwareVersion checks the software version a switch reports:
// at most MaxSoftwareVersionLength printable ASCII characters, possibly
// none. It returns an *Error of kind ErrInvalid.
func ValidateSoftwareVersion(v string) error {
	if len(v) > MaxSoftwareVersionLength {
		return Errorf(ErrInvalid, CodeInvalid, "software_version must be at most %d characters", MaxSoftwareVersionLength)
	}
	return printable(v, "software_version")
}

func printable(s, field string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return Errorf(ErrInvalid, CodeInvalid, "%s must be printable ASCII", field)
		}
	}
	return nil
}
