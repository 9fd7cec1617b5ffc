package httpapi_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

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

// insistentClient presents its certificate even when the server's list of
// acceptable CAs does not name its issuer (crypto/tls would otherwise send
// none), as a misconfigured or hostile client would.
func insistentClient(t *testing.T, p *centertest.PKI, cert tls.Certificate) *http.Client {
	t.Helper()
	c := p.HTTPClient(t, cert)
	c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}
	return c
}

// http1Client negotiates HTTP/1.1 only, like an older client.
func http1Client(t *testing.T, p *centertest.PKI, cert tls.Certificate) *http.Client {
	t.Helper()
	cfg := mtls.ClientConfig(cert, p.Roots)
	cfg.NextProtos = []string{"http/1.1"}
	tr := client.NewTransport(cfg)
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP1(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
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
