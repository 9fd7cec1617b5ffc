package agent

import (
	"context"
	"net/netip"
)

// Discovery is the stage that gives a booting switch its management
// address, as DHCP does on a real switch. The agent calls it once per
// boot, before anything else, and retries with backoff when it fails; it
// should block until it has a lease or ctx ends.
type Discovery interface {
	Discover(ctx context.Context) (Lease, error)
}

// Lease is what discovery found.
type Lease struct {
	// Address is the switch's management address and prefix; the zero
	// value means the host's own configuration is used as it is.
	Address netip.Prefix
	// Option148 is the raw text of DHCP option 148, "" when absent. The
	// agent parses it, so that a malformed option is logged and ignored
	// in one place whatever the discovery.
	Option148 string
}

// Static is a discovery that reads settings given once, such as flags.
type Static Lease

// Discover returns the settings.
func (s Static) Discover(context.Context) (Lease, error) { return Lease(s), nil }

var _ Discovery = Static{}
