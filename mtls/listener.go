package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Why a handshake failed, as reported to NewListener's onFailure. These are
// stable: they label metrics and logs.
const (
	ReasonNoCertificate    = "no_certificate"    // the client sent no certificate
	ReasonUnknownAuthority = "unknown_authority" // its chain ends at none of our CAs
	ReasonExpired          = "expired"           // a certificate of its chain is expired (or not yet valid)
	ReasonBadCertificate   = "bad_certificate"   // any other certificate problem: key usage, unclassifiable identity, ...
	ReasonProtocol         = "protocol"          // no common version, suite or ALPN protocol; not TLS; the peer aborted
	ReasonTimeout          = "timeout"           // the handshake did not finish in time
	ReasonClosed           = "closed"            // the peer went away
)

// MaxHandshakes bounds the handshakes a listener runs at once (and the
// handshaken connections waiting for Accept). Beyond it the listener stops
// accepting, and new connections wait in the kernel's backlog: a flood
// costs queue space there, not goroutines and memory here.
const MaxHandshakes = 4096

// DefaultHandshakeTimeout is used when NewListener is given no timeout: a
// handshake without a deadline is a connection held open for free.
const DefaultHandshakeTimeout = 10 * time.Second

// NewListener returns a listener whose Accept returns *tls.Conn values
// whose handshake has already completed with cfg. Handshakes run in their
// own goroutines, at most MaxHandshakes at once, each within
// handshakeTimeout; a failed one is reported to onFailure (if not nil; it
// is called from many goroutines at once) with a Reason* and the
// connection is closed. Close closes inner, abandons handshakes in
// progress, and makes Accept return net.ErrClosed.
//
// Handshakes start with the first Accept, and use a copy of cfg taken now:
// http.Server.Serve adjusts its own TLSConfig before it first accepts, so
// passing it the same cfg is safe.
func NewListener(inner net.Listener, cfg *tls.Config, handshakeTimeout time.Duration, onFailure func(reason string, remote net.Addr, err error)) net.Listener {
	return newListener(inner, cfg, handshakeTimeout, onFailure, MaxHandshakes)
}

func newListener(inner net.Listener, cfg *tls.Config, timeout time.Duration, onFailure func(string, net.Addr, error), maxHandshakes int) *listener {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &listener{
		inner:     inner,
		cfg:       cfg.Clone(),
		timeout:   timeout,
		onFailure: onFailure,
		slots:     make(chan struct{}, maxHandshakes),
		accepted:  make(chan acceptResult),
		ctx:       ctx,
		cancel:    cancel,
	}
}

type listener struct {
	inner     net.Listener
	cfg       *tls.Config
	timeout   time.Duration
	onFailure func(string, net.Addr, error)

	// slots holds a token for each connection between the inner Accept and
	// the hand-over to Accept's caller (or its failure).
	slots    chan struct{}
	accepted chan acceptResult

	ctx    context.Context // done when closed
	cancel context.CancelFunc
	start  sync.Once
}

type acceptResult struct {
	conn *tls.Conn
	err  error
}

func (l *listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case r := <-l.accepted:
		if r.err != nil {
			return nil, r.err
		}
		if l.ctx.Err() != nil {
			r.conn.Close()
			return nil, net.ErrClosed
		}
		return r.conn, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.cancel()
	return l.inner.Close()
}

func (l *listener) Addr() net.Addr { return l.inner.Addr() }

func (l *listener) acceptLoop() {
	// Also when inner was closed behind our back: Accept then reports
	// net.ErrClosed, and handshakes in progress are abandoned.
	defer l.cancel()
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.ctx.Done():
			return
		}
		conn, err := l.inner.Accept()
		if err != nil {
			<-l.slots
			if errors.Is(err, net.ErrClosed) || l.ctx.Err() != nil {
				return
			}
			// Other errors (EMFILE, ...) go to Accept's caller, which knows
			// whether to back off and retry (http.Server does) or give up.
			select {
			case l.accepted <- acceptResult{err: err}:
			case <-l.ctx.Done():
				return
			}
			continue
		}
		go l.handshake(conn)
	}
}

func (l *listener) handshake(raw net.Conn) {
	defer func() { <-l.slots }()
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	conn := tls.Server(raw, l.cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		if l.ctx.Err() == nil && l.onFailure != nil {
			l.onFailure(HandshakeFailureReason(err), raw.RemoteAddr(), err)
		}
		return
	}
	select {
	case l.accepted <- acceptResult{conn: conn}:
	case <-l.ctx.Done():
		conn.Close()
	}
}

// HandshakeFailureReason classifies the error of a server-side handshake
// as one of the Reason* constants ("" for nil). It goes by the error types
// crypto/tls returns, and by the message only for the failures crypto/tls
// reports without a type (no client certificate, a client certificate it
// cannot use).
func HandshakeFailureReason(err error) string {
	if err == nil {
		return ""
	}
	var (
		verr  *tls.CertificateVerificationError
		nerr  net.Error
		alert tls.AlertError
	)
	switch {
	case errors.As(err, &verr):
		return verificationReason(verr.Err)
	case errors.Is(err, ErrNoIdentity):
		return ReasonBadCertificate
	case errors.As(err, &nerr) && nerr.Timeout():
		return ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonClosed
	case errors.As(err, &alert):
		// Only QUIC connections report the alert they sent as a type.
		return alertReason(alert)
	}
	// crypto/tls reports these without a type; every server-side message
	// that mentions a certificate is about the client's.
	switch msg := err.Error(); {
	case strings.Contains(msg, "didn't provide a certificate"):
		return ReasonNoCertificate
	case strings.Contains(msg, "certificate"):
		// Unparsable, an unsupported key, or a CertificateVerify signature
		// that does not match: a certificate presented without its key.
		return ReasonBadCertificate
	}
	// The rest is disagreement about the protocol: crypto/tls reports an
	// unsupported version, no common cipher suite or ALPN protocol with
	// untyped errors, a non-TLS client with tls.RecordHeaderError, and an
	// alert from the client as a *net.OpError.
	return ReasonProtocol
}

func verificationReason(err error) string {
	var (
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &unknown):
		return ReasonUnknownAuthority
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return ReasonExpired
	}
	return ReasonBadCertificate
}

// TLS alert numbers (RFC 8446, Section 6) that say something about the
// client's certificate.
const (
	alertBadCertificate         = 42
	alertUnsupportedCertificate = 43
	alertCertificateRevoked     = 44
	alertCertificateExpired     = 45
	alertCertificateUnknown     = 46
	alertUnknownCA              = 48
	alertCertificateRequired    = 116
)

func alertReason(a tls.AlertError) string {
	switch a {
	case alertCertificateRequired:
		return ReasonNoCertificate
	case alertUnknownCA:
		return ReasonUnknownAuthority
	case alertCertificateExpired:
		return ReasonExpired
	case alertBadCertificate, alertUnsupportedCertificate, alertCertificateRevoked, alertCertificateUnknown:
		return ReasonBadCertificate
	}
	return ReasonProtocol
}
