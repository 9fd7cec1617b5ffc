package httpapi_test

import (
	"fmt"
	"github.com/regcenter/regcenter/centertest"
	"net/http"
	"strings"
	"testing"
)

func TestBadInputIsRefusedAndStoresNothing(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	platform := p.HTTPClient(t, p.PlatformCert(t, "cmp-a"))
	sw := p.HTTPClient(t, p.DeviceCert(t, esn1))

	var tooMany strings.Builder
	tooMany.WriteString(`{"devices":[`)
	for i := range 10_001 {
		if i > 0 {
			tooMany.WriteByte(',')
		}
		fmt.Fprintf(&tooMany, `{"esn":"ESN%05d","device_type":"S5735"}`, i)
	}
	tooMany.WriteString(`]}`)
	hugeBody := `{"devices":[{"esn":"ESN1","device_type":"` + strings.Repeat("x", 9<<20) + `"}]}`

	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed JSON", "PUT", "/v1/platform", `{"addresses":[`, 400, "invalid_request"},
		{"not JSON", "PUT", "/v1/platform", `addresses=1`, 400, "invalid_request"},
		{"empty body", "PUT", "/v1/platform", ``, 400, "invalid_request"},
		{"two JSON values", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":1}]}{}`, 400, "invalid_request"},
		{"unknown field", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":1}],"owner":"x"}`, 400, "invalid_request"},
		{"unknown nested field", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":1,"scheme":"https"}]}`, 400, "invalid_request"},
		{"wrong type", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":"443"}]}`, 400, "invalid_request"},
		{"port 0", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":0}]}`, 400, "invalid_request"},
		{"port 65536", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":65536}]}`, 400, "invalid_request"},
		{"empty address list", "PUT", "/v1/platform", `{"addresses":[]}`, 400, "invalid_request"},
		{"no address list", "PUT", "/v1/platform", `{}`, 400, "invalid_request"},
		{"bad host", "PUT", "/v1/platform", `{"addresses":[{"host":"https://a.example/","port":443}]}`, 400, "invalid_request"},
		{"trust anchor not PEM", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":1}],"trust_anchor":"hello"}`, 400, "invalid_request"},
		{"trust anchor a key", "PUT", "/v1/platform", `{"addresses":[{"host":"a.example","port":1}],"trust_anchor":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}`, 400, "invalid_request"},
		{"10,001 devices", "POST", "/v1/devices", tooMany.String(), 413, "too_large"},
		{"body over the limit", "POST", "/v1/devices", hugeBody, 413, "too_large"},
		{"no devices", "POST", "/v1/devices", `{"devices":[]}`, 400, "invalid_request"},
		{"unknown device field", "POST", "/v1/devices", `{"devices":[{"esn":"ESN1","device_type":"S","owner":"x"}]}`, 400, "invalid_request"},
		{"invalid ESN in the path", "GET", "/v1/devices/bad%20esn", ``, 400, "invalid_request"},
		{"wrong media type", "PUT", "/v1/platform", `<xml/>`, 415, "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, tc.method, c.URL+tc.path, tc.body)
			if tc.name == "wrong media type" {
				req.Header.Set("Content-Type", "application/xml")
			}
			send(t, platform, req).wantProblem(t, tc.status, tc.code)
		})
	}

	bootstrapCases := []struct{ name, body string }{
		{"invalid ESN", `{"esn":"bad esn","mode":"traditional"}`},
		{"bad mode", `{"esn":"` + esn1 + `","mode":"sideways"}`},
		{"unknown field", `{"esn":"` + esn1 + `","mode":"traditional","platform":"cmp-b"}`},
		{"malformed", `{"esn":`},
	}
	for _, tc := range bootstrapCases {
		t.Run("bootstrap "+tc.name, func(t *testing.T) {
			send(t, sw, newRequest(t, "POST", c.URL+"/v1/bootstrap", tc.body)).wantProblem(t, http.StatusBadRequest, "invalid_request")
		})
	}

	// Nothing of the above was stored.
	do(t, platform, "GET", c.URL+"/v1/platform", nil).wantProblem(t, http.StatusNotFound, "platform_not_configured")
	var list struct {
		Devices []deviceAnswer `json:"devices"`
	}
	do(t, platform, "GET", c.URL+"/v1/devices", nil).json(t, &list)
	if len(list.Devices) != 0 {
		t.Fatalf("refused requests stored %d devices", len(list.Devices))
	}
}

func TestInvalidItemsInABatchAreReportedAndTheRestStored(t *testing.T) {
	p := centertest.NewPKI(t)
	c := centertest.Start(t, p, centertest.Options{})
	platform := p.HTTPClient(t, p.PlatformCert(t, "cmp-a"))
	var up uploadAnswer
	r := do(t, platform, "POST", c.URL+"/v1/devices", `{"devices":[
		{"esn":"GOOD1","device_type":"S5735"},
		{"esn":"bad/esn","device_type":"S5735"},
		{"esn":"","device_type":"S5735"},
		{"esn":"`+strings.Repeat("A", 65)+`","device_type":"S5735"},
		{"esn":"GOOD2","device_type":"S5735","addresses":[{"host":"a.example","port":0}]}
	]}`)
	r.wantStatus(t, http.StatusOK)
	r.json(t, &up)
	want := []string{"created", "invalid", "invalid", "invalid", "invalid"}
	for i, w := range want {
		if up.Results[i].Result != w || (w == "invalid" && up.Results[i].Detail == "") {
			t.Errorf("result %d = %+v, want %s with a detail", i, up.Results[i], w)
		}
	}
	if up.Counts["created"] != 1 || up.Counts["invalid"] != 4 {
		t.Errorf("counts = %v", up.Counts)
	}
}
