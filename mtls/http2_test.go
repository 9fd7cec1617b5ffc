package mtls_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/regcenter/regcenter/mtls"
)

// TestServesHTTP2 proves the wiring cmd/regcenter uses: http.Server.Serve
// on a NewListener, with srv.TLSConfig the same configuration. net/http
// must see *tls.Conn values that negotiated h2 and speak HTTP/2 on them,
// with the verified chains in r.TLS.
func TestServesHTTP2(t *testing.T) {
	f := newPKI(t)
	cfg := f.auth.ServerConfig(mtls.ServerOptions{Certificate: f.serverCert})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := mtls.NewListener(inner, cfg, 5*time.Second, func(reason string, remote net.Addr, err error) {
		t.Errorf("handshake from %v failed: %s: %v", remote, reason, err)
	})
	srv := &http.Server{
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
				http.Error(w, "no verified chains", http.StatusInternalServerError)
				return
			}
			id, err := f.auth.Identify(r.TLS)
			if err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
			fmt.Fprintf(w, "%d %s %s", r.ProtoMajor, id.Role, id.ID)
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})

	transport := &http.Transport{
		TLSClientConfig:   mtls.ClientConfig(f.platform(t, "acme-cloud"), f.roots),
		ForceAttemptHTTP2: true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	for range 2 { // the second request reuses the HTTP/2 connection
		resp, err := client.Get("https://" + inner.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || string(body) != "2 platform acme-cloud" {
			t.Errorf("status %d, proto %s, body %q; want 200 over HTTP/2 from platform acme-cloud", resp.StatusCode, resp.Proto, body)
		}
		if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
			t.Errorf("client TLS state %+v", resp.TLS)
		}
	}
}
