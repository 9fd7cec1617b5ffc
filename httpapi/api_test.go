package httpapi_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/regcenter/regcenter/centertest"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter/pki"
)

type addressJSON struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

type bootstrapAnswer struct {
	ESN      string `json:"esn"`
	Platform struct {
		ID          string        `json:"id"`
		Addresses   []addressJSON `json:"addresses"`
		TrustAnchor string        `json:"trust_anchor"`
	} `json:"platform"`
}

type uploadAnswer struct {
	Results []struct {
		ESN    string `json:"esn"`
		Result string `json:"result"`
		Detail string `json:"detail"`
	} `json:"results"`
	Counts map[string]int `json:"counts"`
}

type deviceAnswer struct {
	ESN                 string        `json:"esn"`
	DeviceType          string        `json:"device_type"`
	Addresses           []addressJSON `json:"addresses"`
	ClaimedAt           time.Time     `json:"claimed_at"`
	LastBootstrapAt     *time.Time    `json:"last_bootstrap_at"`
	BootstrapCount      int64         `json:"bootstrap_count"`
	LastMode            string        `json:"last_mode"`
	LastSoftwareVersion string        `json:"last_software_version"`
}

const esn1 = "2102113374P0F4000046"

func bootstrapBody(esn string) string {
	return fmt.Sprintf(`{"esn":%q,"device_type":"S5735-L24T4S-A","software_version":"V200R022C00","mode":"traditional"}`, esn)
}

func TestHappyPathOverHTTP2(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	platform := p.HTTPClient(t, p.PlatformCert(t, "cmp-a"))
	sw := p.HTTPClient(t, p.DeviceCert(t, esn1))

	r := do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody(esn1))
	r.wantProblem(t, http.StatusNotFound, "not_claimed")
	if got := r.header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q, want 7", got)
	}

	do(t, platform, "GET", c.URL+"/v1/platform", nil).wantProblem(t, http.StatusNotFound, "platform_not_configured")
	anchor := string(p.PlatformCA.CertPEM())
	r = do(t, platform, "PUT", c.URL+"/v1/platform", map[string]any{
		"addresses":    []addressJSON{{"cmp.example.net", 10030}, {"192.0.2.10", 10030}},
		"trust_anchor": anchor,
	})
	r.wantStatus(t, http.StatusOK)
	var rec struct {
		ID          string        `json:"id"`
		Addresses   []addressJSON `json:"addresses"`
		TrustAnchor string        `json:"trust_anchor"`
		UpdatedAt   time.Time     `json:"updated_at"`
	}
	r.json(t, &rec)
	if rec.ID != "cmp-a" || len(rec.Addresses) != 2 || rec.TrustAnchor != anchor || rec.UpdatedAt.IsZero() {
		t.Fatalf("platform record = %+v", rec)
	}
	var again = rec
	do(t, platform, "GET", c.URL+"/v1/platform", nil).json(t, &again)
	if again.ID != rec.ID || !again.UpdatedAt.Equal(rec.UpdatedAt) {
		t.Errorf("GET /v1/platform = %+v, want %+v", again, rec)
	}

	upload := `{"devices":[{"esn":"` + strings.ToLower(esn1) + `","device_type":"S5735-L24T4S-A"},{"esn":"2102113374P0F4000047","device_type":"S5735-L24T4S-A","addresses":[{"host":"cmp-eu.example.net","port":443}]}]}`
	var up uploadAnswer
	r = do(t, platform, "POST", c.URL+"/v1/devices", upload)
	r.wantStatus(t, http.StatusOK)
	r.json(t, &up)
	if up.Results[0].ESN != esn1 || up.Results[0].Result != "created" || up.Results[1].Result != "created" || up.Counts["created"] != 2 {
		t.Fatalf("upload = %+v", up)
	}
	do(t, platform, "POST", c.URL+"/v1/devices", upload).json(t, &up)
	if up.Counts["unchanged"] != 2 || up.Counts["created"] != 0 {
		t.Fatalf("second identical upload = %+v", up)
	}

	var ans bootstrapAnswer
	r = do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody(esn1))
	r.wantStatus(t, http.StatusOK)
	r.json(t, &ans)
	if ans.ESN != esn1 || ans.Platform.ID != "cmp-a" || len(ans.Platform.Addresses) != 2 ||
		ans.Platform.Addresses[0] != (addressJSON{"cmp.example.net", 10030}) || ans.Platform.TrustAnchor != anchor {
		t.Fatalf("bootstrap answer = %+v", ans)
	}
	if r.proto != "HTTP/2.0" {
		t.Errorf("client saw %s, want HTTP/2.0", r.proto)
	}

	// The per-device override wins for that device.
	sw2 := p.HTTPClient(t, p.DeviceCert(t, "2102113374P0F4000047"))
	do(t, sw2, "POST", c.URL+"/v1/bootstrap", bootstrapBody("2102113374P0F4000047")).json(t, &ans)
	if len(ans.Platform.Addresses) != 1 || ans.Platform.Addresses[0].Host != "cmp-eu.example.net" {
		t.Errorf("override answer = %+v", ans)
	}

	if err := c.Recorder.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var dev deviceAnswer
	do(t, platform, "GET", c.URL+"/v1/devices/"+esn1, nil).json(t, &dev)
	if dev.ESN != esn1 || dev.DeviceType != "S5735-L24T4S-A" || dev.BootstrapCount != 1 || dev.LastMode != "traditional" ||
		dev.LastSoftwareVersion != "V200R022C00" || dev.LastBootstrapAt == nil || dev.ClaimedAt.IsZero() || dev.Addresses != nil {
		t.Errorf("device = %+v", dev)
	}

	for _, proto := range c.Protocols() {
		if proto != "HTTP/2.0" {
			t.Fatalf("server saw a request over %s; every request must be HTTP/2", proto)
		}
	}
	if n := len(c.Protocols()); n < 9 {
		t.Fatalf("server saw %d requests, want at least 9", n)
	}
}

func TestListDevicesPagesAndDelete(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	platform := p.HTTPClient(t, p.PlatformCert(t, "cmp-a"))
	var items []string
	for i := range 5 {
		items = append(items, fmt.Sprintf(`{"esn":"ESN%d","device_type":"S5735"}`, i))
	}
	do(t, platform, "POST", c.URL+"/v1/devices", `{"devices":[`+strings.Join(items, ",")+`]}`).wantStatus(t, http.StatusOK)

	var page struct {
		Devices []deviceAnswer `json:"devices"`
		Next    string         `json:"next"`
	}
	do(t, platform, "GET", c.URL+"/v1/devices?limit=3", nil).json(t, &page)
	if len(page.Devices) != 3 || page.Devices[0].ESN != "ESN0" || page.Next != "ESN2" {
		t.Fatalf("first page = %+v", page)
	}
	page.Next = ""
	do(t, platform, "GET", c.URL+"/v1/devices?limit=3&after=ESN2", nil).json(t, &page)
	if len(page.Devices) != 2 || page.Devices[1].ESN != "ESN4" || page.Next != "" {
		t.Fatalf("last page = %+v", page)
	}
	for _, q := range []string{"limit=0x", "limit=1001", "limit=-1", "after=bad%20esn", "sort=esn"} {
		do(t, platform, "GET", c.URL+"/v1/devices?"+q, nil).wantProblem(t, http.StatusBadRequest, "invalid_request")
	}

	r := do(t, platform, "DELETE", c.URL+"/v1/devices/esn0", nil)
	r.wantStatus(t, http.StatusNoContent)
	do(t, platform, "GET", c.URL+"/v1/devices/ESN0", nil).wantProblem(t, http.StatusNotFound, "not_found")
	do(t, platform, "DELETE", c.URL+"/v1/devices/ESN0", nil).wantProblem(t, http.StatusNotFound, "not_found")
}

func TestRefusals(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	platformA := p.HTTPClient(t, p.PlatformCert(t, "cmp-a"))
	platformB := p.HTTPClient(t, p.PlatformCert(t, "cmp-b"))
	sw := p.HTTPClient(t, p.DeviceCert(t, esn1))

	do(t, platformA, "PUT", c.URL+"/v1/platform", `{"addresses":[{"host":"cmp-a.example.net","port":10030}]}`).wantStatus(t, http.StatusOK)
	do(t, platformA, "POST", c.URL+"/v1/devices", `{"devices":[{"esn":"`+esn1+`","device_type":"S5735"},{"esn":"OTHER1","device_type":"S5735"}]}`).wantStatus(t, http.StatusOK)

	t.Run("device asks about another ESN", func(t *testing.T) {
		pr := do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody("OTHER1")).wantProblem(t, http.StatusForbidden, "esn_mismatch")
		if strings.Contains(pr.Detail, "cmp-a") {
			t.Errorf("mismatch detail names the platform: %q", pr.Detail)
		}
	})
	t.Run("device on platform routes", func(t *testing.T) {
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "/v1/platform", ""}, {"PUT", "/v1/platform", `{"addresses":[{"host":"evil.example","port":1}]}`},
			{"POST", "/v1/devices", `{"devices":[{"esn":"X","device_type":"Y"}]}`}, {"GET", "/v1/devices", ""},
			{"GET", "/v1/devices/" + esn1, ""}, {"DELETE", "/v1/devices/" + esn1, ""},
		} {
			var body any
			if rt.body != "" {
				body = rt.body
			}
			do(t, sw, rt.method, c.URL+rt.path, body).wantProblem(t, http.StatusForbidden, "wrong_role")
		}
	})
	t.Run("platform on the device route", func(t *testing.T) {
		do(t, platformA, "POST", c.URL+"/v1/bootstrap", bootstrapBody(esn1)).wantProblem(t, http.StatusForbidden, "wrong_role")
	})
	t.Run("platform B and A's device", func(t *testing.T) {
		get := do(t, platformB, "GET", c.URL+"/v1/devices/"+esn1, nil)
		absent := do(t, platformB, "GET", c.URL+"/v1/devices/NOSUCHESN", nil)
		get.wantProblem(t, http.StatusNotFound, "not_found")
		absent.wantProblem(t, http.StatusNotFound, "not_found")
		if string(get.body) != string(absent.body) {
			t.Errorf("A's device answers %s, an absent one %s: they must be the same", get.body, absent.body)
		}
		del := do(t, platformB, "DELETE", c.URL+"/v1/devices/"+esn1, nil)
		del.wantProblem(t, http.StatusNotFound, "not_found")

		var up uploadAnswer
		r := do(t, platformB, "POST", c.URL+"/v1/devices", `{"devices":[{"esn":"`+esn1+`","device_type":"S5735"}]}`)
		r.wantStatus(t, http.StatusOK)
		r.json(t, &up)
		if up.Results[0].Result != "conflict" || up.Counts["conflict"] != 1 {
			t.Errorf("B's claim = %+v", up)
		}
		var list struct {
			Devices []deviceAnswer `json:"devices"`
		}
		do(t, platformB, "GET", c.URL+"/v1/devices", nil).json(t, &list)
		if len(list.Devices) != 0 {
			t.Errorf("B lists %d devices, want none", len(list.Devices))
		}
		for _, body := range [][]byte{get.body, del.body, r.body} {
			if strings.Contains(string(body), "cmp-a") {
				t.Errorf("an answer to B names A: %s", body)
			}
		}
		// A still holds it and the switch still learns A's address.
		var ans bootstrapAnswer
		do(t, sw, "POST", c.URL+"/v1/bootstrap", bootstrapBody(esn1)).json(t, &ans)
		if ans.Platform.ID != "cmp-a" {
			t.Errorf("after B's attempts the switch is told %+v", ans)
		}
	})
	t.Run("unknown route and method", func(t *testing.T) {
		do(t, platformA, "GET", c.URL+"/v1/nothing", nil).wantProblem(t, http.StatusNotFound, "not_found")
		r := do(t, platformA, "PATCH", c.URL+"/v1/platform", `{}`)
		r.wantProblem(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if allow := r.header.Get("Allow"); allow != "PUT, GET" {
			t.Errorf("Allow = %q", allow)
		}
	})
}

func TestHandshakeRefusals(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	stranger, err := pki.NewCA("Stranger CA", pki.ValidFor(p.Now, 1))
	if err != nil {
		t.Fatal(err)
	}
	expired := tlsCert(t, must(p.DeviceCA.IssueDevice(esn1, pki.Validity{NotBefore: p.Now.Add(-48 * time.Hour), NotAfter: p.Now.Add(-24 * time.Hour)})))
	// A platform CA certificate used as a server CA-signed leaf: chains to
	// the center CA, which identifies no client.
	centerSigned := tlsCert(t, must(p.CenterCA.IssuePlatform("cmp-x", pki.ValidFor(p.Now, 1))))

	cases := []struct {
		name   string
		client *http.Client
		reason string
	}{
		{"no client certificate", p.HTTPClient(t, tls.Certificate{}), "no_certificate"},
		{"unknown CA", insistentClient(t, p, tlsCert(t, must(stranger.IssueDevice(esn1, pki.ValidFor(p.Now, 1))))), "unknown_authority"},
		{"expired", insistentClient(t, p, expired), "expired"},
		{"chains to the center CA", insistentClient(t, p, centerSigned), "unknown_authority"},
		// crypto/tls clients send no certificate whose issuer the server
		// does not accept: the center then sees none.
		{"unknown CA, polite client", p.HTTPClient(t, tlsCert(t, must(stranger.IssueDevice(esn1, pki.ValidFor(p.Now, 1))))), "no_certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", c.URL+"/v1/bootstrap", strings.NewReader(bootstrapBody(esn1)))
			resp, err := tc.client.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				t.Fatalf("request succeeded with status %d (%s); want a failed handshake", resp.StatusCode, b)
			}
			waitForMetric(t, c, `regcenter_tls_handshake_failures_total{reason="`+tc.reason+`"}`)
		})
	}
	if got := c.Protocols(); len(got) != 0 {
		t.Errorf("refused clients reached HTTP %d times", len(got))
	}
}

// waitForMetric polls /metrics until the series exists with a value of at
// least 1: handshake failures are counted by the server after the client
// has already seen its error.
func waitForMetric(t *testing.T, c *centertest.Center, series string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(c.OpsURL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(b)
		for line := range strings.Lines(last) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok && v != "0" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("metric %s never counted; metrics:\n%s", series, grepLines(last, "regcenter_tls"))
}

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
