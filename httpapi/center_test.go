package httpapi_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/httpapi"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
	"github.com/regcenter/regcenter/prometheus"
	"github.com/regcenter/regcenter/sqlite"
)

// testPKI is a complete PKI made in memory for one test.
type testPKI struct {
	centerCA, platformCA, deviceCA *pki.CA
	server                         tls.Certificate
	roots                          *x509.CertPool // what clients trust: the center CA only
	now                            time.Time
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	now := time.Now()
	p := &testPKI{now: now, roots: x509.NewCertPool()}
	v := pki.ValidFor(now, 1)
	var err error
	for _, ca := range []struct {
		dst **pki.CA
		cn  string
	}{{&p.centerCA, "Test Center CA"}, {&p.platformCA, "Test Platform CA"}, {&p.deviceCA, "Test Device CA"}} {
		if *ca.dst, err = pki.NewCA(ca.cn, v); err != nil {
			t.Fatal(err)
		}
	}
	p.server = tlsCert(t, must(p.centerCA.IssueServer([]string{"localhost", "127.0.0.1"}, v)))
	p.roots.AddCert(p.centerCA.Cert)
	return p
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func tlsCert(t *testing.T, kp pki.KeyPair) tls.Certificate {
	t.Helper()
	c, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *testPKI) platformCert(t *testing.T, id string) tls.Certificate {
	return tlsCert(t, must(p.platformCA.IssuePlatform(id, pki.ValidFor(p.now, 1))))
}

func (p *testPKI) deviceCert(t *testing.T, esn string) tls.Certificate {
	return tlsCert(t, must(p.deviceCA.IssueDevice(esn, pki.ValidFor(p.now, 1))))
}

// client speaks HTTP/2 only, as the project's own clients must.
func (p *testPKI) client(t *testing.T, cert tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: mtls.ClientConfig(cert, p.roots), Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// insistentClient presents its certificate even when the server's list of
// acceptable CAs does not name its issuer (crypto/tls would otherwise send
// none), as a misconfigured or hostile client would.
func (p *testPKI) insistentClient(t *testing.T, cert tls.Certificate) *http.Client {
	t.Helper()
	c := p.client(t, cert)
	c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}
	return c
}

// http1Client negotiates HTTP/1.1 only, like an older client.
func (p *testPKI) http1Client(t *testing.T, cert tls.Certificate) *http.Client {
	t.Helper()
	cfg := mtls.ClientConfig(cert, p.roots)
	cfg.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{TLSClientConfig: cfg, Protocols: new(http.Protocols)}
	tr.Protocols.SetHTTP1(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// center is a center running on 127.0.0.1:0 with a real SQLite file, wired
// as cmd/regcenter wires it.
type center struct {
	url, opsURL string
	recorder    *regcenter.BootstrapRecorder
	db          *sqlite.DB

	mu     sync.Mutex
	protos []string // the protocol of every request, as the server saw it

	stop func()
}

type centerOptions struct {
	http2Only bool
}

func startCenter(t *testing.T, p *testPKI, dbPath string, opts centerOptions) *center {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	authority, err := mtls.NewAuthority([]*x509.Certificate{p.platformCA.Cert}, []*x509.Certificate{p.deviceCA.Cert})
	if err != nil {
		t.Fatal(err)
	}
	c := &center{db: db}
	c.recorder = regcenter.NewBootstrapRecorder(db, regcenter.RecorderConfig{FlushInterval: time.Hour})
	svc := regcenter.NewService(regcenter.ServiceConfig{Store: db, Recorder: c.recorder, NotClaimedRetryAfter: 7 * time.Second})
	metrics := prometheus.New()
	api := httpapi.NewHandler(httpapi.Config{Service: svc, Identify: authority.Identify, Metrics: metrics, HTTP2Only: opts.http2Only})

	srv, err := httpapi.Listen(httpapi.ServerConfig{
		Addr: "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.mu.Lock()
			c.protos = append(c.protos, r.Proto)
			c.mu.Unlock()
			api.ServeHTTP(w, r)
		}),
		TLS:                authority.ServerConfig(mtls.ServerOptions{Certificate: p.server}),
		OnHandshakeFailure: func(reason string, _ net.Addr, _ error) { metrics.HandshakeFailed(reason) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := httpapi.Listen(httpapi.ServerConfig{Addr: "127.0.0.1:0", Handler: httpapi.NewOpsHandler(db.Ping, metrics.Handler(), nil)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { srv.Serve(); done <- struct{}{} }()
	go func() { ops.Serve(); done <- struct{}{} }()
	c.url = "https://" + srv.Addr()
	c.opsURL = "http://" + ops.Addr()

	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			ops.Shutdown(sctx)
			<-done
			<-done
			if err := c.recorder.Flush(sctx); err != nil {
				t.Errorf("final flush: %v", err)
			}
			db.Close()
		})
	}
	t.Cleanup(c.stop)
	return c
}

func (c *center) seenProtocols() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.protos...)
}

// response is a decoded answer.
type response struct {
	status int
	proto  string
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// problem is the RFC 9457 shape every error must have.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// wantProblem asserts an RFC 9457 answer with the given status and code.
func (r response) wantProblem(t *testing.T, status int, code string) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	r.json(t, &p)
	if p.Code != code || p.Status != status || p.Type == "" || p.Title == "" {
		t.Fatalf("problem %+v, want code %s status %d", p, code, status)
	}
	return p
}

func (r response) wantStatus(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

func do(t *testing.T, client *http.Client, method, url string, body any) response {
	t.Helper()
	var s string
	switch b := body.(type) {
	case nil:
	case string:
		s = b
	default:
		s = string(must(json.Marshal(b)))
	}
	return send(t, client, newRequest(t, method, url, s))
}

func dbFile(t *testing.T) string { return filepath.Join(t.TempDir(), "center.db") }

func newRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func send(t *testing.T, client *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, proto: resp.Proto, header: resp.Header, body: b}
}
