package mtls

import (
	"crypto/tls"
	"net"
	"time"
)

// NewListenerWithLimit is NewListener with a small bound on handshakes in
// progress, so that a test can reach it.
func NewListenerWithLimit(inner net.Listener, cfg *tls.Config, timeout time.Duration, onFailure func(string, net.Addr, error), limit int) net.Listener {
	return newListener(inner, cfg, timeout, onFailure, limit)
}
