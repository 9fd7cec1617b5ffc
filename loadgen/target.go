package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
	"github.com/regcenter/regcenter/wire"
)

// Target is the server under load.
type Target struct {
	Name  string         // how reports call it: "center", "baseline"
	URL   string         // https://host:port
	Roots *x509.CertPool // the CA of the server's certificate
	// PostQuantum makes the clients offer X25519MLKEM768, as they must to
	// use it with a center or baseline started with --pq-kex.
	PostQuantum bool
	// PID is the server's process, whose CPU time and resident memory are
	// read from /proc; 0 measures neither.
	PID int
}

func (t Target) check() error {
	u, err := url.Parse(t.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("loadgen: target URL %q: must be https://host:port", t.URL)
	}
	if t.Roots == nil {
		return errors.New("loadgen: the target's CA is required")
	}
	return nil
}

func (t Target) base() string { return strings.TrimSuffix(t.URL, "/") }

// tlsConfig is what a client with cert presents: the project's own client
// settings, so that the load looks like real switches and platforms.
func (t Target) tlsConfig(cert tls.Certificate) *tls.Config {
	cfg := mtls.ClientConfig(cert, t.Roots)
	if t.PostQuantum {
		cfg.CurvePreferences = mtls.CurvePreferences(true)
	}
	return cfg
}

// transport returns an HTTP/2 transport for cert whose every new TCP
// connection adds one to dials, so that a run can show how many
// connections it really opened. Requests beyond what the server allows on
// one connection wait for a stream rather than open another connection.
func (t Target) transport(cert tls.Certificate, dials *atomic.Int64) *http.Transport {
	tr := client.NewTransport(t.tlsConfig(cert))
	tr.HTTP2.StrictMaxConcurrentRequests = true
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			dials.Add(1)
		}
		return c, err
	}
	return tr
}

// Device is a simulated switch: its ESN and its device certificate.
type Device struct {
	ESN         string
	Certificate tls.Certificate
}

// LoadFleet returns count devices of dir with ESNs pki.FleetESNs(prefix,
// count), first issuing the certificates that do not exist yet (so the
// first run pays for them once).
func LoadFleet(ctx context.Context, dir pki.Dir, prefix string, count int) ([]Device, error) {
	esns, err := pki.FleetESNs(prefix, count)
	if err != nil {
		return nil, err
	}
	if _, err := pki.IssueDevices(ctx, dir, prefix, count, time.Now()); err != nil {
		return nil, err
	}
	devs := make([]Device, len(esns))
	for i, esn := range esns {
		cert, err := tls.LoadX509KeyPair(dir.DeviceCert(esn), dir.DeviceKey(esn))
		if err != nil {
			return nil, fmt.Errorf("loadgen: device %s: %w", esn, err)
		}
		devs[i] = Device{ESN: esn, Certificate: cert}
	}
	return devs, nil
}

// What every simulated switch reports about itself.
const (
	DeviceType      = "S5735-L24T4S-A"
	SoftwareVersion = "V200R022C00"
)

// bootstrapBody is the POST /v1/bootstrap body of a switch that boots
// unconfigured, encoded once per device so that the load generator spends
// its core on connections, not on JSON.
func bootstrapBody(esn string) []byte {
	b, err := json.Marshal(wire.BootstrapRequest{ESN: esn, DeviceType: DeviceType, SoftwareVersion: SoftwareVersion, Mode: regcenter.ModeTraditional})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// PlatformID is the platform that claims the load generator's devices.
const PlatformID = "loadgen-platform"

// PlatformAddresses is what that platform publishes, and so what a
// bootstrap answer carries.
func PlatformAddresses() []regcenter.Address {
	return []regcenter.Address{{Host: "cmp.loadgen.example", Port: 10030}}
}

// BootstrapAnswer is the answer the center gives one of the load
// generator's switches once PlatformID, with trustAnchor, has claimed it:
// what the baseline server sends, so that both send the same bytes.
func BootstrapAnswer(esn, trustAnchor string) wire.BootstrapResponse {
	return wire.FromBootstrapAnswer(regcenter.BootstrapAnswer{
		ESN: esn, PlatformID: PlatformID, Addresses: PlatformAddresses(), TrustAnchor: trustAnchor,
	})
}

// Prepare makes a center ready for the bootstrap scenarios: the platform
// with cert publishes PlatformAddresses and trustAnchor, and claims devs
// (an ESN it already holds is left unchanged).
func Prepare(ctx context.Context, t Target, platform tls.Certificate, trustAnchor string, devs []Device) error {
	c, err := t.platformClient(platform)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.PutPlatform(ctx, PlatformAddresses(), trustAnchor); err != nil {
		return fmt.Errorf("loadgen: publish the platform: %w", err)
	}
	items := make([]regcenter.DeviceUpload, len(devs))
	for i, d := range devs {
		items[i] = regcenter.DeviceUpload{ESN: d.ESN, DeviceType: DeviceType}
	}
	for start := 0; start < len(items); start += regcenter.MaxUploadDevices {
		batch := items[start:min(start+regcenter.MaxUploadDevices, len(items))]
		rep, err := c.UploadDevices(ctx, batch)
		if err != nil {
			return fmt.Errorf("loadgen: claim the fleet: %w", err)
		}
		if held := rep.Counts.Created + rep.Counts.Unchanged + rep.Counts.Updated; held != len(batch) {
			return fmt.Errorf("loadgen: claim the fleet: %d of %d devices claimed (%+v)", held, len(batch), rep.Counts)
		}
	}
	return nil
}

func (t Target) platformClient(cert tls.Certificate) (*client.Center, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	// The classical key exchange even with PostQuantum: a center with
	// --pq-kex accepts it too, and the platform's one handshake per run
	// does not weigh in the figures.
	return client.New(client.Config{URL: t.URL, Certificate: cert, Roots: t.Roots, Timeout: 5 * time.Minute})
}
