// Package centertest runs a real center for tests of the parties around
// it: a PKI made in memory, a real SQLite file, real TLS listeners on
// 127.0.0.1:0 serving HTTP/2, wired as cmd/regcenter wires them. It is
// imported only by tests.
package centertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/center"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
	"github.com/regcenter/regcenter/prometheus"
	"github.com/regcenter/regcenter/sqlite"
)

// PKI is a complete PKI made in memory for one test.
type PKI struct {
	CenterCA, PlatformCA, DeviceCA *pki.CA
	Server                         tls.Certificate
	Roots                          *x509.CertPool // what clients trust: the center CA only
	Now                            time.Time
}

// NewPKI makes the three CAs and a server certificate for localhost and
// 127.0.0.1.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{Now: time.Now(), Roots: x509.NewCertPool()}
	v := pki.ValidFor(p.Now, 1)
	var err error
	for _, ca := range []struct {
		dst **pki.CA
		cn  string
	}{{&p.CenterCA, "Test Center CA"}, {&p.PlatformCA, "Test Platform CA"}, {&p.DeviceCA, "Test Device CA"}} {
		if *ca.dst, err = pki.NewCA(ca.cn, v); err != nil {
			t.Fatal(err)
		}
	}
	p.Server = Certificate(t, func() (pki.KeyPair, error) { return p.CenterCA.IssueServer([]string{"localhost", "127.0.0.1"}, v) })
	p.Roots.AddCert(p.CenterCA.Cert)
	return p
}

// Certificate issues with issue and returns what crypto/tls presents.
func Certificate(t testing.TB, issue func() (pki.KeyPair, error)) tls.Certificate {
	t.Helper()
	kp, err := issue()
	if err != nil {
		t.Fatal(err)
	}
	c, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// PlatformCert issues a platform client certificate with CN=id.
func (p *PKI) PlatformCert(t testing.TB, id string) tls.Certificate {
	t.Helper()
	return Certificate(t, func() (pki.KeyPair, error) { return p.PlatformCA.IssuePlatform(id, pki.ValidFor(p.Now, 1)) })
}

// DeviceCert issues a device certificate for esn.
func (p *PKI) DeviceCert(t testing.TB, esn string) tls.Certificate {
	t.Helper()
	return Certificate(t, func() (pki.KeyPair, error) { return p.DeviceCA.IssueDevice(esn, pki.ValidFor(p.Now, 1)) })
}

// HTTPClient speaks HTTP/2 only with cert, trusting the center CA only.
func (p *PKI) HTTPClient(t testing.TB, cert tls.Certificate) *http.Client {
	t.Helper()
	tr := client.NewTransport(mtls.ClientConfig(cert, p.Roots))
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// Client is the project's own client with cert.
func (p *PKI) Client(t testing.TB, c *Center, cert tls.Certificate) *client.Center {
	t.Helper()
	cl, err := client.New(client.Config{URL: c.URL, Certificate: cert, Roots: p.Roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Options change how a center runs.
type Options struct {
	DBPath string // default: a new file in t.TempDir()
	// Store, when set, is used instead of an SQLite file (replicas share
	// one PostgreSQL store this way); the test closes it.
	Store regcenter.Store
	// Addr is where the API listens (default 127.0.0.1:0). A test that
	// restarts a center gives the first one's Addr to the second, so that
	// clients find it where it was.
	Addr      string
	HTTP2Only bool
	// NotClaimedRetryAfter defaults to 7s, a value tests can recognise.
	NotClaimedRetryAfter time.Duration
	// FlushInterval of the bootstrap recorder; default one hour, so that
	// tests flush explicitly with Recorder.Flush.
	FlushInterval time.Duration
}

// Center is a running center.
type Center struct {
	URL, OpsURL string
	Addr        string // host:port of the API
	Recorder    *regcenter.BootstrapRecorder
	DB          regcenter.Store
	Metrics     *prometheus.Metrics

	mu     sync.Mutex
	protos []string

	stop func()
}

// Start runs a center until the test ends or Stop is called.
func Start(t testing.TB, p *PKI, opts Options) *Center {
	t.Helper()
	if opts.DBPath == "" {
		opts.DBPath = filepath.Join(t.TempDir(), "center.db")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.NotClaimedRetryAfter == 0 {
		opts.NotClaimedRetryAfter = 7 * time.Second
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = time.Hour
	}
	db, closeDB := opts.Store, func() {}
	if db == nil {
		sdb, err := sqlite.Open(context.Background(), opts.DBPath)
		if err != nil {
			t.Fatal(err)
		}
		db, closeDB = sdb, func() { sdb.Close() }
	}
	authority, err := mtls.NewAuthority([]*x509.Certificate{p.PlatformCA.Cert}, []*x509.Certificate{p.DeviceCA.Cert})
	if err != nil {
		t.Fatal(err)
	}
	c := &Center{DB: db}
	rc, err := center.Start(center.Config{
		Listen: opts.Addr, OpsListen: "127.0.0.1:0",
		Store: db, TLS: authority.ServerConfig(mtls.ServerOptions{Certificate: p.Server, VerifyOnce: true}), Identify: authority.Identify,
		HTTP2Only: opts.HTTP2Only, NotClaimedRetryAfter: opts.NotClaimedRetryAfter,
		FlushInterval: opts.FlushInterval, EventPoll: 50 * time.Millisecond,
		Wrap: func(api http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.mu.Lock()
				c.protos = append(c.protos, r.Proto)
				c.mu.Unlock()
				api.ServeHTTP(w, r)
			})
		},
	})
	if err != nil {
		closeDB()
		t.Fatal(err)
	}
	c.Recorder, c.Metrics = rc.Recorder, rc.Metrics
	c.Addr = rc.APIAddr
	c.URL = "https://" + rc.APIAddr
	c.OpsURL = "http://" + rc.OpsAddr

	var once sync.Once
	c.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rc.Shutdown(ctx)
			closeDB()
		})
	}
	t.Cleanup(c.stop)
	return c
}

// Stop shuts the center down gracefully, as SIGTERM does; the test's
// cleanup calls it too.
func (c *Center) Stop() { c.stop() }

// Protocols lists the protocol of every request the center saw.
func (c *Center) Protocols() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.protos...)
}

// LoadPKI reads a PKI laid out by pki.Init (with its CA keys), for tests
// whose parties read their certificates from files, as the commands do.
func LoadPKI(t testing.TB, dir pki.Dir) *PKI {
	t.Helper()
	p := &PKI{Now: time.Now(), Roots: x509.NewCertPool()}
	var err error
	for _, ca := range []struct {
		dst       **pki.CA
		cert, key string
	}{
		{&p.CenterCA, dir.CenterCACert(), dir.CenterCAKey()},
		{&p.PlatformCA, dir.PlatformCACert(), dir.PlatformCAKey()},
		{&p.DeviceCA, dir.DeviceCACert(), dir.DeviceCAKey()},
	} {
		if *ca.dst, err = pki.LoadCA(ca.cert, ca.key); err != nil {
			t.Fatal(err)
		}
	}
	if p.Server, err = tls.LoadX509KeyPair(dir.ServerCert(), dir.ServerKey()); err != nil {
		t.Fatal(err)
	}
	p.Roots.AddCert(p.CenterCA.Cert)
	return p
}
