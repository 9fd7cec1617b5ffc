package mtls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// bothModes runs a test against a server that verifies every chain in
// every handshake (crypto/tls's own way) and one that verifies each chain
// once (VerifyOnce): the two must accept and refuse exactly the same.
func bothModes(t *testing.T, test func(t *testing.T, verifyOnce bool)) {
	t.Run("standard", func(t *testing.T) { test(t, false) })
	t.Run("verify once", func(t *testing.T) { test(t, true) })
}

func TestIdentityFromVerifiedChain(t *testing.T) { bothModes(t, testIdentityFromVerifiedChain) }

func testIdentityFromVerifiedChain(t *testing.T, verifyOnce bool) {
	f := newPKI(t)
	srv := serve(t, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, VerifyOnce: verifyOnce}), 5*time.Second)
	farFuture := time.Now().AddDate(1, 0, 0)

	for _, tc := range []struct {
		name string
		cert tls.Certificate
		want regcenter.Identity
	}{
		{"platform", f.platform(t, "acme-cloud"), regcenter.Identity{Role: regcenter.RolePlatform, ID: "acme-cloud"}},
		{"device serialNumber", f.device(t, "sw-0001"), regcenter.Identity{Role: regcenter.RoleDevice, ID: "SW-0001"}},
		{
			"device serialNumber wins over CN",
			custom(t, f.deviceCA, pkix.Name{SerialNumber: "ESN-1", CommonName: "S5735 switch"}, x509.ExtKeyUsageClientAuth, farFuture),
			regcenter.Identity{Role: regcenter.RoleDevice, ID: "ESN-1"},
		},
		{
			"device CN fallback",
			custom(t, f.deviceCA, pkix.Name{CommonName: "cn-only-7"}, x509.ExtKeyUsageClientAuth, farFuture),
			regcenter.Identity{Role: regcenter.RoleDevice, ID: "CN-ONLY-7"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := srv.dial(t, mtls.ClientConfig(tc.cert, f.roots)); err != nil {
				t.Fatal(err)
			}
			c := srv.nextAccepted(t)
			cs := c.ConnectionState()
			if !cs.HandshakeComplete || cs.Version != tls.VersionTLS13 || cs.NegotiatedProtocol != "h2" {
				t.Errorf("complete %v, version %x, ALPN %q; want a finished TLS 1.3 handshake with h2", cs.HandshakeComplete, cs.Version, cs.NegotiatedProtocol)
			}
			if cs.CurveID != tls.X25519 {
				t.Errorf("key exchange %v, want X25519 by default", cs.CurveID)
			}
			got, err := f.auth.Identify(&cs)
			if err != nil || got != tc.want {
				t.Errorf("Identify = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestHandshakeFailures(t *testing.T) { bothModes(t, testHandshakeFailures) }

func testHandshakeFailures(t *testing.T, verifyOnce bool) {
	f := newPKI(t)
	srv := serve(t, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, VerifyOnce: verifyOnce}), 5*time.Second)
	stranger := newCA(t, "someone else's CA", pki.ValidFor(time.Now(), 1))
	strangerKP, err := stranger.IssueDevice("SW-1", pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	expiredKP, err := f.deviceCA.IssueDevice("SW-OLD", pki.Validity{
		NotBefore: time.Now().AddDate(0, 0, -30), NotAfter: time.Now().AddDate(0, 0, -1),
	})
	if err != nil {
		t.Fatal(err)
	}
	serverAuthKP, err := f.platformCA.IssueServer([]string{"acme.example"}, pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	farFuture := time.Now().AddDate(1, 0, 0)

	// crypto/tls clients send no certificate that the server's list of
	// acceptable CAs rules out; other clients do, and this one must.
	unknownCA := mtls.ClientConfig(tls.Certificate{}, f.roots)
	unknownCA.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c := tlsCert(t, strangerKP)
		return &c, nil
	}
	// A certificate presented with another key than its own: the chain
	// verifies, the CertificateVerify signature does not.
	stolen := f.device(t, "SW-STOLEN")
	// The owner connects first, so that a server that verifies each chain
	// once has this very chain verified: the thief must fail all the same.
	if _, err := srv.dial(t, mtls.ClientConfig(stolen, f.roots)); err != nil {
		t.Fatalf("the certificate's owner: %v", err)
	}
	srv.nextAccepted(t)
	stolen.PrivateKey = f.device(t, "SW-THIEF").PrivateKey
	tls12Only := mtls.ClientConfig(f.device(t, "SW-2"), f.roots)
	tls12Only.MinVersion, tls12Only.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	wrongALPN := mtls.ClientConfig(f.device(t, "SW-3"), f.roots)
	wrongALPN.NextProtos = []string{"spdy/3"}

	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want string
	}{
		{"unknown CA", unknownCA, mtls.ReasonUnknownAuthority},
		{"expired", mtls.ClientConfig(tlsCert(t, expiredKP), f.roots), mtls.ReasonExpired},
		{"no certificate", mtls.ClientConfig(tls.Certificate{}, f.roots), mtls.ReasonNoCertificate},
		{"server certificate as client", mtls.ClientConfig(tlsCert(t, serverAuthKP), f.roots), mtls.ReasonBadCertificate},
		{
			"device with invalid ESN",
			mtls.ClientConfig(custom(t, f.deviceCA, pkix.Name{SerialNumber: "not an ESN!"}, x509.ExtKeyUsageClientAuth, farFuture), f.roots),
			mtls.ReasonBadCertificate,
		},
		{
			"platform with invalid ID",
			mtls.ClientConfig(custom(t, f.platformCA, pkix.Name{CommonName: "has space"}, x509.ExtKeyUsageClientAuth, farFuture), f.roots),
			mtls.ReasonBadCertificate,
		},
		{"certificate without its key", mtls.ClientConfig(stolen, f.roots), mtls.ReasonBadCertificate},
		{"TLS 1.2 only", tls12Only, mtls.ReasonProtocol},
		{"no common ALPN protocol", wrongALPN, mtls.ReasonProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := srv.dial(t, tc.cfg)
			if err == nil {
				// TLS 1.3: the client finished first; the refusal comes as
				// an alert on its first read.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Read(make([]byte, 1))
			}
			if err == nil {
				t.Error("the client was served")
			}
			got := srv.nextFailure(t)
			if got.reason != tc.want {
				t.Errorf("reason %q (%v), want %q", got.reason, got.err, tc.want)
			}
			if got.remote == nil || c != nil && got.remote.String() != c.LocalAddr().String() {
				t.Errorf("failure reported for %v, want the client's address", got.remote)
			}
		})
	}
}

func TestTLS12OnlyWhenAllowed(t *testing.T) {
	f := newPKI(t)
	srv := serve(t, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, AllowTLS12: true}), 5*time.Second)
	cfg := mtls.ClientConfig(f.device(t, "SW-12"), f.roots)
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	// A TLS 1.2 client offering weak suites first still gets an ECDHE+AEAD one.
	cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	if _, err := srv.dial(t, cfg); err != nil {
		t.Fatal(err)
	}
	cs := srv.nextAccepted(t).ConnectionState()
	if cs.Version != tls.VersionTLS12 || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Errorf("version %x suite %s", cs.Version, tls.CipherSuiteName(cs.CipherSuite))
	}
	if id, err := f.auth.Identify(&cs); err != nil || id.ID != "SW-12" {
		t.Errorf("Identify = %+v, %v", id, err)
	}

	cbcOnly := cfg.Clone()
	cbcOnly.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	if _, err := srv.dial(t, cbcOnly); err == nil {
		t.Error("a CBC-only TLS 1.2 client was accepted")
	}
	if got := srv.nextFailure(t); got.reason != mtls.ReasonProtocol {
		t.Errorf("CBC-only client: reason %q (%v)", got.reason, got.err)
	}
}

func TestKeyExchange(t *testing.T) {
	f := newPKI(t)
	cert := f.device(t, "SW-KEX")
	pqClient := mtls.ClientConfig(cert, f.roots)
	pqClient.CurvePreferences = mtls.CurvePreferences(true)
	for _, tc := range []struct {
		name     string
		serverPQ bool
		client   *tls.Config
		want     tls.CurveID
	}{
		{"classical server, PQ client", false, pqClient, tls.X25519},
		{"PQ server, PQ client", true, pqClient, tls.X25519MLKEM768},
		{"PQ server, classical client", true, mtls.ClientConfig(cert, f.roots), tls.X25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, PostQuantum: tc.serverPQ}), 5*time.Second)
			if _, err := srv.dial(t, tc.client); err != nil {
				t.Fatal(err)
			}
			cs := srv.nextAccepted(t).ConnectionState()
			// No HelloRetryRequest either: the client's key shares suffice.
			if cs.CurveID != tc.want || cs.HelloRetryRequest {
				t.Errorf("key exchange %v (HelloRetryRequest %v), want %v", cs.CurveID, cs.HelloRetryRequest, tc.want)
			}
		})
	}
}

func TestRawClients(t *testing.T) {
	f := newPKI(t)
	srv := serve(t, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert}), 300*time.Millisecond)
	for _, tc := range []struct {
		name string
		do   func(net.Conn)
		want string
	}{
		{"plain HTTP", func(c net.Conn) { io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") }, mtls.ReasonProtocol},
		{"garbage", func(c net.Conn) { c.Write([]byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7}) }, mtls.ReasonProtocol},
		{"silent", func(net.Conn) {}, mtls.ReasonTimeout},
		{"gone", func(c net.Conn) { c.Close() }, mtls.ReasonClosed},
		{"half a ClientHello then gone", func(c net.Conn) {
			c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
			c.Close()
		}, mtls.ReasonClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", srv.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			tc.do(c)
			got := srv.nextFailure(t)
			if got.reason != tc.want {
				t.Errorf("reason %q (%v), want %q", got.reason, got.err, tc.want)
			}
			if tc.want == mtls.ReasonTimeout && time.Since(start) < 250*time.Millisecond {
				t.Errorf("timed out after %v, before the handshake timeout", time.Since(start))
			}
		})
	}
}

func TestHandshakesAreBounded(t *testing.T) {
	f := newPKI(t)
	cfg := f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert})
	srv := serveWith(t, func(inner net.Listener, onFailure func(string, net.Addr, error)) net.Listener {
		return mtls.NewListenerWithLimit(inner, cfg, 500*time.Millisecond, onFailure, 1)
	})
	// A silent client takes the only handshake slot ...
	silent, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(50 * time.Millisecond) // let the listener take it first
	// ... so a good client waits in the backlog until it times out.
	dialed := make(chan net.Conn, 1)
	cfg = mtls.ClientConfig(f.device(t, "SW-WAIT"), f.roots)
	go func() {
		c, _ := tls.Dial("tcp", srv.addr(), cfg)
		dialed <- c
	}()
	defer func() {
		if c := <-dialed; c != nil {
			c.Close()
		}
	}()
	select {
	case c := <-srv.accepted:
		t.Fatalf("accepted %v while the only slot was taken", c.RemoteAddr())
	case got := <-srv.failures:
		if got.reason != mtls.ReasonTimeout {
			t.Fatalf("first failure %q (%v), want timeout", got.reason, got.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the silent client never timed out")
	}
	srv.nextAccepted(t)
}

func TestCloseStopsAccept(t *testing.T) {
	f := newPKI(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := mtls.NewListener(inner, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert}), time.Second, nil)
	if ln.Addr().String() != inner.Addr().String() {
		t.Errorf("Addr %v, want %v", ln.Addr(), inner.Addr())
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	// A silent client holds a handshake that Close must abandon.
	silent, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(20 * time.Millisecond)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Accept: %v", err)
	}
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the abandoned handshake's connection is still open: %v", err)
	}
}

func TestClientConfigTrustsOnlyGivenRoots(t *testing.T) {
	f := newPKI(t)
	srv := serve(t, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert}), 5*time.Second)
	cfg := mtls.ClientConfig(f.device(t, "SW-ROOTS"), nil)
	_, err := srv.dial(t, cfg)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("dial without roots: %v, want x509.UnknownAuthorityError", err)
	}
	if cfg.MinVersion != tls.VersionTLS13 || !slices.Equal(cfg.NextProtos, []string{"h2"}) {
		t.Errorf("MinVersion %x NextProtos %v", cfg.MinVersion, cfg.NextProtos)
	}
}

func TestServerConfig(t *testing.T) {
	f := newPKI(t)
	cfg := f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert})
	if cfg.MinVersion != tls.VersionTLS13 || cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.CipherSuites != nil {
		t.Errorf("MinVersion %x ClientAuth %v CipherSuites %v", cfg.MinVersion, cfg.ClientAuth, cfg.CipherSuites)
	}
	if !slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("NextProtos %v", cfg.NextProtos)
	}
	if !slices.Equal(cfg.CurvePreferences, []tls.CurveID{tls.X25519, tls.CurveP256}) {
		t.Errorf("CurvePreferences %v", cfg.CurvePreferences)
	}
	pq := f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, PostQuantum: true})
	if !slices.Equal(pq.CurvePreferences, []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}) {
		t.Errorf("PostQuantum CurvePreferences %v", pq.CurvePreferences)
	}
	tls12 := f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, AllowTLS12: true})
	if tls12.MinVersion != tls.VersionTLS12 || len(tls12.CipherSuites) == 0 {
		t.Fatalf("AllowTLS12: MinVersion %x CipherSuites %v", tls12.MinVersion, tls12.CipherSuites)
	}
	for _, id := range tls12.CipherSuites {
		cs := cipherSuite(id)
		if cs == nil || cs.Insecure || !slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
			t.Errorf("TLS 1.2 suite %s is not a secure TLS 1.2 suite", tls.CipherSuiteName(id))
		}
		name := tls.CipherSuiteName(id)
		if !(strings.Contains(name, "_ECDHE_") && (strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305"))) {
			t.Errorf("TLS 1.2 suite %s is not ECDHE with an AEAD", name)
		}
	}
}

func cipherSuite(id uint16) *tls.CipherSuite {
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if cs.ID == id {
			return cs
		}
	}
	return nil
}

func TestNewAuthority(t *testing.T) {
	f := newPKI(t)
	leaf, err := f.platformCA.IssuePlatform("acme", pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	leafCert, err := leaf.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	p, d := []*x509.Certificate{f.platformCA.Cert}, []*x509.Certificate{f.deviceCA.Cert}
	for _, tc := range []struct {
		name               string
		platforms, devices []*x509.Certificate
	}{
		{"no platform CA", nil, d},
		{"no device CA", p, nil},
		{"CA in both sets", p, []*x509.Certificate{f.deviceCA.Cert, f.platformCA.Cert}},
		{"leaf as CA", p, []*x509.Certificate{leafCert}},
	} {
		if _, err := mtls.NewAuthority(tc.platforms, tc.devices); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	a, err := mtls.NewAuthority(append(p, f.platformCA.Cert), d)
	if err != nil {
		t.Fatalf("duplicate platform CA: %v", err)
	}
	pool := a.ClientCAs()
	pool.AddCert(f.center.Cert) // must not change what a trusts
	for _, tc := range []struct {
		leaf  *x509.Certificate
		usage x509.ExtKeyUsage
		want  bool
	}{
		{f.platform(t, "acme").Leaf, x509.ExtKeyUsageClientAuth, true},
		{f.device(t, "SW-1").Leaf, x509.ExtKeyUsageClientAuth, true},
		{f.serverCert.Leaf, x509.ExtKeyUsageServerAuth, false}, // from the center CA
	} {
		_, err := tc.leaf.Verify(x509.VerifyOptions{Roots: a.ClientCAs(), KeyUsages: []x509.ExtKeyUsage{tc.usage}})
		if got := err == nil; got != tc.want {
			t.Errorf("%s verifies against ClientCAs: %v, want %v", tc.leaf.Subject, got, tc.want)
		}
	}
}

func TestIdentifyRefusesWithoutAClassifiedChain(t *testing.T) {
	f := newPKI(t)
	leafOf := func(cert tls.Certificate) *x509.Certificate { return cert.Leaf }
	platform := leafOf(f.platform(t, "acme"))
	device := leafOf(f.device(t, "SW-9"))
	for _, tc := range []struct {
		name   string
		chains [][]*x509.Certificate
	}{
		{"no chains", nil},
		{"chain to the center CA", [][]*x509.Certificate{{platform, f.center.Cert}}},
		{"CA as its own client certificate", [][]*x509.Certificate{{f.platformCA.Cert}}},
		{"chains to both roles", [][]*x509.Certificate{{device, f.deviceCA.Cert}, {device, f.platformCA.Cert}}},
	} {
		_, err := f.auth.Identify(&tls.ConnectionState{VerifiedChains: tc.chains})
		if !errors.Is(err, mtls.ErrNoIdentity) {
			t.Errorf("%s: %v, want ErrNoIdentity", tc.name, err)
		}
		if got := mtls.HandshakeFailureReason(err); got != mtls.ReasonBadCertificate {
			t.Errorf("%s: reason %q", tc.name, got)
		}
	}
	if _, err := f.auth.Identify(nil); !errors.Is(err, mtls.ErrNoIdentity) {
		t.Errorf("nil state: %v", err)
	}
}

func TestLoadCertificates(t *testing.T) {
	f := newPKI(t)
	dir := t.TempDir()
	write := func(name string, parts ...[]byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, slices.Concat(parts...), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundle := write("bundle.pem", f.platformCA.CertPEM(), []byte("\n"), f.deviceCA.CertPEM())
	certs, err := mtls.LoadCertificates(bundle)
	if err != nil || len(certs) != 2 || !certs[0].Equal(f.platformCA.Cert) || !certs[1].Equal(f.deviceCA.Cert) {
		t.Fatalf("LoadCertificates = %d certificates, %v", len(certs), err)
	}
	kp, err := f.deviceCA.IssueDevice("SW-1", pki.ValidFor(time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][][]byte{
		"empty.pem":    nil,
		"key.pem":      {f.platformCA.CertPEM(), kp.KeyPEM},
		"trailing.pem": {f.platformCA.CertPEM(), []byte("junk")},
		"text.pem":     {[]byte("not PEM at all")},
	} {
		if _, err := mtls.LoadCertificates(write(name, content...)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := mtls.LoadCertificates(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestHandshakeFailureReason(t *testing.T) {
	verification := func(err error) error {
		return fmt.Errorf("handshake: %w", &tls.CertificateVerificationError{Err: err})
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{verification(x509.UnknownAuthorityError{}), mtls.ReasonUnknownAuthority},
		{verification(x509.CertificateInvalidError{Reason: x509.Expired}), mtls.ReasonExpired},
		{verification(x509.CertificateInvalidError{Reason: x509.IncompatibleUsage}), mtls.ReasonBadCertificate},
		{fmt.Errorf("%w: CN", mtls.ErrNoIdentity), mtls.ReasonBadCertificate},
		{context.DeadlineExceeded, mtls.ReasonTimeout},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, mtls.ReasonTimeout},
		{io.EOF, mtls.ReasonClosed},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, mtls.ReasonClosed},
		{tls.AlertError(116), mtls.ReasonNoCertificate},
		{tls.AlertError(48), mtls.ReasonUnknownAuthority},
		{tls.AlertError(70), mtls.ReasonProtocol},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, mtls.ReasonProtocol},
		{errors.New("tls: client offered only unsupported versions: [303]"), mtls.ReasonProtocol},
		{errors.New("tls: client didn't provide a certificate"), mtls.ReasonNoCertificate},
		{errors.New("tls: invalid signature by the client certificate: ECDSA verification failure"), mtls.ReasonBadCertificate},
	} {
		if got := mtls.HandshakeFailureReason(tc.err); got != tc.want {
			t.Errorf("HandshakeFailureReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func BenchmarkIdentify(b *testing.B) {
	f := newPKI(b)
	for _, tc := range []struct {
		name string
		cert tls.Certificate
		ca   *x509.Certificate
	}{
		{"platform", f.platform(b, "acme-cloud"), f.platformCA.Cert},
		{"device", f.device(b, "SW-0000000001"), f.deviceCA.Cert},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cs := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{tc.cert.Leaf, tc.ca}}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.auth.Identify(cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestAcceptEndsWhenInnerListenerCloses(t *testing.T) {
	f := newPKI(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := mtls.NewListener(inner, f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert}), time.Second, nil)
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	inner.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept blocks after the inner listener closed")
	}
}

// TestVerifyOnceRechecksTime: a chain verified once is not trusted beyond
// its validity: the same certificate is refused as expired later on.
func TestVerifyOnceRechecksTime(t *testing.T) {
	f := newPKI(t)
	notAfter := time.Now().Add(time.Hour)
	cert := custom(t, f.deviceCA, pkix.Name{SerialNumber: "SW-SOON"}, x509.ExtKeyUsageClientAuth, notAfter)
	cfg := f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert, VerifyOnce: true})
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	cfg.Time = func() time.Time { return *clock.Load() }
	srv := serve(t, cfg, 5*time.Second)

	for range 2 { // verified, then found again
		if _, err := srv.dial(t, mtls.ClientConfig(cert, f.roots)); err != nil {
			t.Fatal(err)
		}
		c := srv.nextAccepted(t)
		cs := c.ConnectionState()
		if id, err := f.auth.Identify(&cs); err != nil || id.ID != "SW-SOON" {
			t.Fatalf("Identify = %+v, %v", id, err)
		}
	}
	later := notAfter.Add(time.Minute)
	clock.Store(&later)
	c, err := srv.dial(t, mtls.ClientConfig(cert, f.roots))
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if err == nil {
		t.Fatal("an expired certificate was accepted from the cache")
	}
	if got := srv.nextFailure(t); got.reason != mtls.ReasonExpired {
		t.Errorf("reason %q (%v), want expired", got.reason, got.err)
	}
}
