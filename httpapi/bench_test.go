package httpapi_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/httpapi"
	"github.com/regcenter/regcenter/sqlite"
)

const benchBootstrapBody = `{"esn":"2102113374P0F4000046","device_type":"S5735-L24T4S-A","software_version":"V200R022C00","mode":"traditional"}`

// BenchmarkDecodeBootstrap is the request decoding of the hot path alone.
func BenchmarkDecodeBootstrap(b *testing.B) {
	b.ReportAllocs()
	type bootstrapRequest struct {
		ESN             string         `json:"esn"`
		DeviceType      string         `json:"device_type"`
		SoftwareVersion string         `json:"software_version"`
		Mode            regcenter.Mode `json:"mode"`
	}
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/bootstrap", strings.NewReader(benchBootstrapBody))
		var req bootstrapRequest
		if err := httpapi.DecodeJSON(nil, r, 16<<10, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBootstrapHandler is the whole API handler of a bootstrap, with
// a real SQLite store, without TLS: the identity is given as the verified
// chain would give it, so that the figure is the center's own work.
func BenchmarkBootstrapHandler(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "center.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rec := regcenter.NewBootstrapRecorder(db, regcenter.RecorderConfig{FlushInterval: time.Hour})
	svc := regcenter.NewService(regcenter.ServiceConfig{Store: db, Recorder: rec})
	platform := regcenter.Identity{Role: regcenter.RolePlatform, ID: "cmp-a"}
	if _, err := svc.PutPlatform(ctx, platform, []regcenter.Address{{Host: "cmp.example.net", Port: 10030}}, ""); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.UploadDevices(ctx, platform, []regcenter.DeviceUpload{{ESN: "2102113374P0F4000046", DeviceType: "S5735-L24T4S-A"}}); err != nil {
		b.Fatal(err)
	}
	device := regcenter.Identity{Role: regcenter.RoleDevice, ID: "2102113374P0F4000046"}
	h := httpapi.NewHandler(httpapi.Config{
		Service:  svc,
		Identify: func(*tls.ConnectionState) (regcenter.Identity, error) { return device, nil },
	})
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/bootstrap", strings.NewReader(benchBootstrapBody))
		r.Header.Set("Content-Type", "application/json")
		r.TLS = &tls.ConnectionState{}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
