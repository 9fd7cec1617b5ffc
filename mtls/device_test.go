package mtls_test

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/mtls"
)

// TestDeviceAuthority: a server that only switches call (the reference
// platform) serves device certificates with the center's TLS settings and
// identity rules, and refuses a platform's certificate in the handshake.
func TestDeviceAuthority(t *testing.T) {
	f := newPKI(t)
	if _, err := mtls.NewDeviceAuthority(nil); err == nil {
		t.Error("an authority without device CA was made")
	}
	if _, err := mtls.NewDeviceAuthority([]*x509.Certificate{f.device(t, "SW-1").Leaf}); err == nil {
		t.Error("a leaf was accepted as device CA")
	}
	a, err := mtls.NewDeviceAuthority([]*x509.Certificate{f.deviceCA.Cert})
	if err != nil {
		t.Fatal(err)
	}
	cfg := a.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert})
	if cfg.MinVersion != tls.VersionTLS13 || cfg.ClientAuth != tls.RequireAndVerifyClientCert ||
		!slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1"}) ||
		!slices.Equal(cfg.CurvePreferences, mtls.CurvePreferences(false)) {
		t.Errorf("MinVersion %x ClientAuth %v NextProtos %v CurvePreferences %v", cfg.MinVersion, cfg.ClientAuth, cfg.NextProtos, cfg.CurvePreferences)
	}
	srv := serve(t, cfg, 5*time.Second)

	c, err := srv.dial(t, mtls.ClientConfig(f.device(t, "sw-7a"), f.roots))
	if err != nil {
		t.Fatal(err)
	}
	cs := srv.nextAccepted(t).ConnectionState()
	if cs.NegotiatedProtocol != "h2" {
		t.Errorf("ALPN %q, want h2", cs.NegotiatedProtocol)
	}
	id, err := a.Identify(&cs)
	if err != nil || id != (regcenter.Identity{Role: regcenter.RoleDevice, ID: "SW-7A"}) {
		t.Errorf("Identify = %+v, %v; want device SW-7A", id, err)
	}
	c.Close()

	c, err = srv.dial(t, mtls.ClientConfig(f.platform(t, "acme"), f.roots))
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if err == nil {
		t.Error("a platform certificate was served")
	}
	// crypto/tls clients send no certificate the server's CA list rules out.
	if got := srv.nextFailure(t).reason; got != mtls.ReasonNoCertificate && got != mtls.ReasonUnknownAuthority {
		t.Errorf("platform certificate refused as %q", got)
	}
}
