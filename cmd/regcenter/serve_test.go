package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regcenter/regcenter/client"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// syncBuffer is written by the server goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var servingLine = regexp.MustCompile(`API on https://(\S+) \(mutual TLS\), operations on http://(\S+)`)

// startServe runs the real command in the background and returns the API
// address once it serves, and a function that stops it like SIGTERM does.
func startServe(t *testing.T, args ...string) (api string, stdout *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout = &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, append([]string{"serve"}, args...), os.Getenv, stdout, io.Discard) }()
	deadline := time.After(20 * time.Second)
	for {
		if m := servingLine.FindStringSubmatch(stdout.String()); m != nil {
			api = m[1]
			break
		}
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("serve stopped before serving: %v", err)
		case <-deadline:
			cancel()
			t.Fatal("serve did not start within 20s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("serve did not stop within 30s of its context ending")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { stop() })
	return api, stdout, stop
}

func devClient(t *testing.T, cert, key string) *http.Client {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	cas, err := mtls.LoadCertificates(pki.Dir(devDir).CenterCACert())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for _, c := range cas {
		roots.AddCert(c)
	}
	tr := client.NewTransport(mtls.ClientConfig(pair, roots))
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func call(t *testing.T, c *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 {
		t.Errorf("%s %s answered over %s", method, url, resp.Proto)
	}
	return resp.StatusCode, string(b)
}

// TestServeDev runs the newcomer's first command for real: it creates the
// development PKI, serves, answers the sample platform and switch, stops
// gracefully, and keeps everything across a restart.
func TestServeDev(t *testing.T) {
	t.Chdir(t.TempDir())
	api, stdout, stop := startServe(t, "--dev", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	for _, want := range []string{"curl -sS --http2 --cacert regcenter-dev/center-ca.crt", "/v1/bootstrap", "/v1/devices?limit=2", "-X DELETE"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("dev output lacks %q:\n%s", want, stdout)
		}
	}

	dir := pki.Dir(devDir)
	esn := devDevices()[0]
	platform := devClient(t, dir.PlatformCert(devPlatform), dir.PlatformKey(devPlatform))
	sw := devClient(t, dir.DeviceCert(esn), dir.DeviceKey(esn))
	base := "https://" + api
	if code, body := call(t, platform, "PUT", base+"/v1/platform", `{"addresses":[{"host":"cmp.example.net","port":10030}]}`); code != 200 {
		t.Fatalf("PUT /v1/platform = %d %s", code, body)
	}
	if code, body := call(t, platform, "POST", base+"/v1/devices", `{"devices":[{"esn":"`+esn+`","device_type":"S5735-L24T4S-A"}]}`); code != 200 || !strings.Contains(body, `"created":1`) {
		t.Fatalf("POST /v1/devices = %d %s", code, body)
	}
	bootstrap := `{"esn":"` + esn + `","mode":"traditional"}`
	if code, body := call(t, sw, "POST", base+"/v1/bootstrap", bootstrap); code != 200 || !strings.Contains(body, `"host":"cmp.example.net"`) {
		t.Fatalf("POST /v1/bootstrap = %d %s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// The second start reuses the PKI and the store.
	api, _, stop = startServe(t, "--dev", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	sw = devClient(t, dir.DeviceCert(esn), dir.DeviceKey(esn))
	if code, body := call(t, sw, "POST", "https://"+api+"/v1/bootstrap", bootstrap); code != 200 {
		t.Fatalf("after restart: %d %s", code, body)
	}
	platform = devClient(t, dir.PlatformCert(devPlatform), dir.PlatformKey(devPlatform))
	if code, body := call(t, platform, "GET", "https://"+api+"/v1/devices/"+esn, ""); code != 200 || !strings.Contains(body, `"bootstrap_count":1`) {
		t.Fatalf("after restart the device is %d %s; want the first bootstrap recorded", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestServeRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	cases := [][]string{
		{"serve"}, // neither --pki nor the four files
		{"serve", "--pki", dir, "--store", "mysql://x"},
		{"serve", "--pki", dir, "--log-format", "xml"},
		{"serve", "stray"},
	}
	for _, args := range cases {
		err := run(context.Background(), args, os.Getenv, io.Discard, io.Discard)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("run(%q) = %v (exit %d); want a usage error", args, err, exitCode(err))
		}
	}
	// A PKI directory that does not hold a PKI is a failure, not a usage error.
	err := run(context.Background(), []string{"serve", "--pki", dir, "--listen", "127.0.0.1:0"}, os.Getenv, io.Discard, io.Discard)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "server certificate") {
		t.Errorf("serve on an empty PKI dir = %v", err)
	}
}
