package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"time"
)

// CurvePreferences returns the key exchanges the center and its clients
// offer; see docs/decisions/0003-tls-key-exchange.md. Classical X25519 (and
// P-256 for peers without it) by default: the cheapest handshake. With
// postQuantum, the hybrid X25519MLKEM768 is added, and crypto/tls then
// always picks it when the peer supports it: since Go 1.24 the order of
// Config.CurvePreferences is ignored and post-quantum exchanges come
// first, so leaving the hybrid out is the only way not to use it.
func CurvePreferences(postQuantum bool) []tls.CurveID {
	if postQuantum {
		return []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}
	}
	return []tls.CurveID{tls.X25519, tls.CurveP256}
}

// tls12CipherSuites returns the TLS 1.2 suites allowed with AllowTLS12:
// forward secrecy (ECDHE) and AEAD only. TLS 1.3 suites are not
// configurable and all qualify.
func tls12CipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// ServerOptions are the choices an operator makes about the center's TLS.
type ServerOptions struct {
	Certificate tls.Certificate // the center's server certificate and key
	AllowTLS12  bool            // accept TLS 1.2 clients (ECDHE+AEAD suites only)
	PostQuantum bool            // offer X25519MLKEM768, preferred when the client has it
	// VerifyOnce verifies each distinct client certificate chain once
	// while it stays valid, instead of in every handshake (ADR 9). The
	// client's proof of its key is still checked in every handshake.
	VerifyOnce bool
}

// ServerConfig returns the center's TLS configuration: TLS 1.3 (1.2 only
// with AllowTLS12), a client certificate required and verified against the
// platform and device CAs, ALPN h2 and http/1.1, and a VerifyConnection
// that fails the handshake of a client Identify cannot classify, so that
// such a client never reaches HTTP.
func (a *Authority) ServerConfig(opts ServerOptions) *tls.Config {
	cfg := &tls.Config{
		Certificates:     []tls.Certificate{opts.Certificate},
		MinVersion:       tls.VersionTLS13,
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        a.ClientCAs(),
		NextProtos:       []string{"h2", "http/1.1"},
		CurvePreferences: CurvePreferences(opts.PostQuantum),
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := a.Identify(&cs)
			return err
		},
	}
	if opts.VerifyOnce {
		// crypto/tls then checks only that a certificate came, and its
		// CertificateVerify signature; the chain is ours to verify. The
		// CertificateRequest still names ClientCAs, so clients pick the
		// right certificate as before.
		cfg.ClientAuth = tls.RequireAnyClientCert
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			now := time.Now
			if cfg.Time != nil {
				now = cfg.Time
			}
			_, err := a.verifyPeer(cs.PeerCertificates, now())
			return err
		}
	}
	if opts.AllowTLS12 {
		cfg.MinVersion = tls.VersionTLS12
		cfg.CipherSuites = tls12CipherSuites()
	}
	return cfg
}

// ClientConfig returns the TLS configuration of the project's own clients
// (reference platform, switch agent, load generator): TLS 1.3, HTTP/2, the
// classical key exchanges of CurvePreferences(false), and roots as the only
// trust anchors. A nil roots trusts nothing rather than the system roots:
// the center's certificate comes from the center CA, never from a public
// CA. A zero cert makes a client without a certificate (which the center
// refuses). To use the post-quantum exchange, set CurvePreferences to
// CurvePreferences(true) on the result.
func ClientConfig(cert tls.Certificate, roots *x509.CertPool) *tls.Config {
	if roots == nil {
		roots = x509.NewCertPool()
	}
	cfg := &tls.Config{
		RootCAs:          roots,
		MinVersion:       tls.VersionTLS13,
		NextProtos:       []string{"h2"},
		CurvePreferences: CurvePreferences(false),
	}
	if len(cert.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}
