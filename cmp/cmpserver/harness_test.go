package cmpserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/cmp/cmpclient"
	"github.com/regcenter/regcenter/cmp/cmpserver"
	"github.com/regcenter/regcenter/cmp/cmptest"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// fast retries, so that a center coming back is noticed within a test.
var fast = backoff.Policy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}

// platformEnv is what a platform needs of a test's PKI and center.
type platformEnv struct {
	pki     *centertest.PKI
	cfg     cmpserver.Config
	dataDir string
	roots   *x509.CertPool // what switches trust the platform with
}

func newEnv(t *testing.T, p *centertest.PKI, centerURL, id string) *platformEnv {
	t.Helper()
	server := centertest.Certificate(t, func() (pki.KeyPair, error) {
		return p.PlatformCA.IssueServer([]string{"localhost", "127.0.0.1"}, pki.ValidFor(p.Now, 1))
	})
	roots := x509.NewCertPool()
	roots.AddCert(p.PlatformCA.Cert)
	e := &platformEnv{pki: p, dataDir: filepath.Join(t.TempDir(), "data"), roots: roots}
	e.cfg = cmpserver.Config{
		CenterURL: centerURL, Certificate: p.PlatformCert(t, id), CenterRoots: p.Roots,
		ServerCertificate: server, DeviceCAs: []*x509.Certificate{p.DeviceCA.Cert},
		TrustAnchor: string(p.PlatformCA.CertPEM()),
		DataDir:     e.dataDir, Retry: fast, HeartbeatInterval: time.Second,
	}
	return e
}

// start runs a platform until the test ends or it is shut down.
func (e *platformEnv) start(t *testing.T) *cmpserver.Platform {
	t.Helper()
	p, err := cmpserver.Start(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, p) })
	return p
}

func shutdown(t *testing.T, p *cmpserver.Platform) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// switchClient speaks to the platform's device API as the switch esn.
func (e *platformEnv) switchClient(t *testing.T, p *cmpserver.Platform, esn string) *client.Endpoint {
	t.Helper()
	ep, err := client.NewEndpoint(p.DeviceURL, mtls.ClientConfig(e.pki.DeviceCert(t, esn), e.roots), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.Close)
	return ep
}

// httpClient speaks HTTP/2 to the device API with any certificate.
func (e *platformEnv) httpClient(t *testing.T, cert tls.Certificate) *http.Client {
	t.Helper()
	tr := client.NewTransport(mtls.ClientConfig(cert, e.roots))
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// post sends a JSON request as a switch and decodes the answer, asserting
// HTTP/2.
func post(t *testing.T, ep *client.Endpoint, path string, in, out any) error {
	t.Helper()
	resp, err := ep.Send(context.Background(), "POST", path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Errorf("%s answered over %s", path, resp.Proto)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return nil
}

// admin is a client of the platform's admin API.
func admin(t *testing.T, p *cmpserver.Platform) *cmpclient.Admin {
	t.Helper()
	a, err := cmpclient.NewAdmin(p.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func importCSV(t *testing.T, p *cmpserver.Platform, csv string) cmpwire.ImportResponse {
	t.Helper()
	out, err := admin(t, p).ImportCSV(context.Background(), strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func adminDevices(t *testing.T, p *cmpserver.Platform) map[string]cmpwire.AdminDevice {
	t.Helper()
	devs, err := admin(t, p).Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]cmpwire.AdminDevice, len(devs))
	for _, d := range devs {
		m[d.ESN] = d
	}
	return m
}

// waitStates waits until every listed device is in its state.
func waitStates(t *testing.T, p *cmpserver.Platform, want map[string]string) map[string]cmpwire.AdminDevice {
	t.Helper()
	var devs map[string]cmpwire.AdminDevice
	cmptest.Eventually(t, "device states "+jsonText(want), func() bool {
		devs = adminDevices(t, p)
		for esn, state := range want {
			if devs[esn].State != state {
				return false
			}
		}
		return true
	})
	return devs
}

func jsonText(v any) string {
	var b bytes.Buffer
	json.NewEncoder(&b).Encode(v)
	return strings.TrimSpace(b.String())
}

// centerDevices lists what the center holds for a platform, through the
// center's own client.
func centerDevices(t *testing.T, cl *client.Center) map[string]regcenter.Device {
	t.Helper()
	page, err := cl.Devices(context.Background(), "", regcenter.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]regcenter.Device)
	for _, d := range page.Devices {
		m[d.ESN] = d
	}
	return m
}

func onlyHTTP2(t *testing.T, c *centertest.Center) {
	t.Helper()
	protos := c.Protocols()
	if len(protos) == 0 {
		t.Error("the center saw no request")
	}
	for _, p := range protos {
		if p != "HTTP/2.0" {
			t.Errorf("the center saw a %s request", p)
			return
		}
	}
}
