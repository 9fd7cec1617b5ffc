package httpapi

import "time"

// Metrics is what the transport reports. The prometheus package implements
// it on its own registry; tests may count with their own.
type Metrics interface {
	// ObserveRequest records one answered request by route pattern.
	ObserveRequest(route string, status int, elapsed time.Duration)
	// HandshakeFailed records a refused TLS handshake by reason.
	HandshakeFailed(reason string)
	// BootstrapOutcome records a bootstrap answer: answered, not_claimed,
	// mismatch, or invalid.
	BootstrapOutcome(outcome string)
	// DevicesClaimed adds newly created claims; DevicesReleased released ones.
	DevicesClaimed(n int)
	DevicesReleased(n int)
}

// NopMetrics discards everything.
type NopMetrics struct{}

func (NopMetrics) ObserveRequest(string, int, time.Duration) {}
func (NopMetrics) HandshakeFailed(string)                    {}
func (NopMetrics) BootstrapOutcome(string)                   {}
func (NopMetrics) DevicesClaimed(int)                        {}
func (NopMetrics) DevicesReleased(int)                       {}
