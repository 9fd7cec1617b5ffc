package httpapi_test

import (
	"github.com/regcenter/regcenter/centertest"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClaimsSurviveARestart(t *testing.T) {
	p := centertest.NewPKI(t)
	path := dbFile(t)
	c := centertest.Start(t, p, centertest.Options{DBPath: path})
	platform := p.HTTPClient(t, p.PlatformCert(t, "cmp-a"))
	do(t, platform, "PUT", c.URL+"/v1/platform", `{"addresses":[{"host":"cmp.example.net","port":10030}]}`).wantStatus(t, http.StatusOK)
	do(t, platform, "POST", c.URL+"/v1/devices", `{"devices":[{"esn":"`+esn1+`","device_type":"S5735"}]}`).wantStatus(t, http.StatusOK)
	sw := p.HTTPClient(t, p.DeviceCert(t, esn1))
	do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody(esn1)).wantStatus(t, http.StatusOK)
	c.Stop() // graceful: drains, flushes the bootstrap records, closes the store

	c = centertest.Start(t, p, centertest.Options{DBPath: path})
	platform = p.HTTPClient(t, p.PlatformCert(t, "cmp-a"))
	sw = p.HTTPClient(t, p.DeviceCert(t, esn1))
	var ans bootstrapAnswer
	do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody(esn1)).json(t, &ans)
	if ans.Platform.ID != "cmp-a" || ans.Platform.Addresses[0].Host != "cmp.example.net" {
		t.Fatalf("after restart the switch is told %+v", ans)
	}
	var dev deviceAnswer
	do(t, platform, "GET", c.URL+"/v1/devices/"+esn1, nil).json(t, &dev)
	if dev.BootstrapCount != 1 {
		t.Errorf("bootstrap count after restart = %d, want 1 (flushed at shutdown)", dev.BootstrapCount)
	}
}

func TestHTTP1(t *testing.T) {
	p := centertest.NewPKI(t)
	t.Run("accepted by default", func(t *testing.T) {
		c := centertest.Start(t, p, centertest.Options{})
		r := do(t, http1Client(t, p, p.PlatformCert(t, "cmp-a")), "GET", c.URL+"/v1/platform", nil)
		r.wantProblem(t, http.StatusNotFound, "platform_not_configured")
		if r.proto != "HTTP/1.1" {
			t.Errorf("proto = %s", r.proto)
		}
	})
	t.Run("refused with --http2-only", func(t *testing.T) {
		c := centertest.Start(t, p, centertest.Options{HTTP2Only: true})
		pr := do(t, http1Client(t, p, p.PlatformCert(t, "cmp-a")), "GET", c.URL+"/v1/platform", nil).
			wantProblem(t, http.StatusHTTPVersionNotSupported, "http2_required")
		if !strings.Contains(pr.Detail, "HTTP/2") {
			t.Errorf("detail %q does not say what to do", pr.Detail)
		}
		r := do(t, p.HTTPClient(t, p.PlatformCert(t, "cmp-a")), "GET", c.URL+"/v1/platform", nil)
		r.wantProblem(t, http.StatusNotFound, "platform_not_configured")
	})
}

func TestOperationsEndpoints(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	sw := p.HTTPClient(t, p.DeviceCert(t, esn1))
	do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody(esn1)).wantProblem(t, http.StatusNotFound, "not_claimed")
	do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody("OTHER")).wantProblem(t, http.StatusForbidden, "esn_mismatch")

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(c.OpsURL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz = %d %q", code, body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`regcenter_bootstrap_requests_total{outcome="not_claimed"} 1`,
		`regcenter_bootstrap_requests_total{outcome="mismatch"} 1`,
		`regcenter_bootstrap_requests_total{outcome="answered"} 0`,
		`regcenter_http_requests_total{route="POST /v1/bootstrap",status="404"} 1`,
		`regcenter_http_requests_total{route="POST /v1/bootstrap",status="403"} 1`,
		`regcenter_http_request_duration_seconds_count{route="POST /v1/bootstrap"} 2`,
		`regcenter_devices_claimed_total 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A store that stops answering makes the center unready, not unhealthy.
	c.DB.Close()
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"store_unavailable"`) {
		t.Errorf("/readyz with the store closed = %d %s", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz with the store closed = %d", code)
	}
}
