package loadgen_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter/centertest"
	"github.com/regcenter/regcenter/loadgen"
	"github.com/regcenter/regcenter/mtls"
)

const requests = 20

// fleet issues n device certificates with p's device CA.
func fleet(t *testing.T, p *centertest.PKI, n int) []loadgen.Device {
	t.Helper()
	devs := make([]loadgen.Device, n)
	for i := range devs {
		esn := fmt.Sprintf("LGTEST%04d", i)
		devs[i] = loadgen.Device{ESN: esn, Certificate: p.DeviceCert(t, esn)}
	}
	return devs
}

func trustAnchor(p *centertest.PKI) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.PlatformCA.Cert.Raw}))
}

// servers returns a real center (its fleet claimed, its platform
// published) and a baseline server with the center's TLS configuration,
// both in this process, whose pid is then the server's.
func servers(t *testing.T, p *centertest.PKI, devs []loadgen.Device) (center, baseline loadgen.Target) {
	t.Helper()
	c := centertest.Start(t, p, centertest.Options{})
	center = loadgen.Target{Name: "center", URL: c.URL, Roots: p.Roots, PID: os.Getpid()}
	if err := loadgen.Prepare(context.Background(), center, p.PlatformCert(t, loadgen.PlatformID), trustAnchor(p), devs); err != nil {
		t.Fatal(err)
	}

	auth, err := mtls.NewAuthority([]*x509.Certificate{p.PlatformCA.Cert}, []*x509.Certificate{p.DeviceCA.Cert})
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadgen.ListenBaseline("127.0.0.1:0", auth.ServerConfig(mtls.ServerOptions{Certificate: p.Server}), loadgen.BaselineAnswer(devs[0].ESN, trustAnchor(p)))
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	baseline = loadgen.Target{Name: "baseline", URL: "https://" + b.Addr(), Roots: p.Roots, PID: os.Getpid()}
	return center, baseline
}

// checkResult holds for every successful run: every operation succeeded,
// and the figures hang together.
func checkResult(t *testing.T, r loadgen.Result, ops int) {
	t.Helper()
	if r.Ops != ops || r.OK != ops || len(r.Errors) != 0 {
		t.Errorf("%s/%s: %d of %d ok, errors %v %v; want all %d", r.Scenario, r.Target, r.OK, r.Ops, r.Errors, r.ErrorSamples, ops)
	}
	l := r.Latency
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max && l.Max <= r.Elapsed) {
		t.Errorf("%s/%s: latencies %+v within %v do not hang together", r.Scenario, r.Target, l, r.Elapsed)
	}
	if r.ServerPID != os.Getpid() || r.ServerRSSBefore <= 0 || r.ServerRSSAfter <= 0 || r.ServerRSSPeak < r.ServerRSSAfter {
		t.Errorf("%s/%s: server readings pid %d, RSS %d/%d/%d", r.Scenario, r.Target, r.ServerPID, r.ServerRSSBefore, r.ServerRSSAfter, r.ServerRSSPeak)
	}
	if r.LoadCores < 1 || r.LoadCPU < 0 || r.ServerCPU < 0 {
		t.Errorf("%s/%s: CPU readings: load %v on %d, server %v", r.Scenario, r.Target, r.LoadCPU, r.LoadCores, r.ServerCPU)
	}
	var out strings.Builder
	loadgen.WriteResult(&out, r)
	if !strings.Contains(out.String(), fmt.Sprintf("%d ok of %d", ops, ops)) || !strings.Contains(out.String(), "errors      none") {
		t.Errorf("report does not say what happened:\n%s", out.String())
	}
}

func TestScenarios(t *testing.T) {
	ctx := context.Background()
	p := centertest.NewPKI(t)
	devs := fleet(t, p, 5)
	center, baseline := servers(t, p, devs)
	load := loadgen.Load{Requests: requests, Concurrency: 4}

	for _, target := range []loadgen.Target{center, baseline} {
		t.Run("cold/"+target.Name, func(t *testing.T) {
			r, err := loadgen.Cold(ctx, target, loadgen.ColdConfig{Load: load, Devices: devs})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, r, requests)
			if r.Conns != requests {
				t.Errorf("%d connections for %d cold requests; want one each", r.Conns, requests)
			}
		})
		t.Run("warm/"+target.Name, func(t *testing.T) {
			r, err := loadgen.Warm(ctx, target, loadgen.WarmConfig{Load: load, Devices: devs, Conns: 2})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, r, requests)
			if r.Conns != 2 {
				t.Errorf("%d connections; want the 2 asked for", r.Conns)
			}
		})
		t.Run("idle/"+target.Name, func(t *testing.T) {
			r, err := loadgen.Idle(ctx, target, loadgen.IdleConfig{Devices: devs, Conns: requests, Settle: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, r, requests)
			if r.Conns != requests {
				t.Errorf("%d connections opened; want %d", r.Conns, requests)
			}
		})
		t.Run("flow/"+target.Name, func(t *testing.T) {
			r, err := loadgen.Flow(ctx, target, loadgen.FlowConfig{Run: func(ctx context.Context) ([]loadgen.Onboarded, error) {
				// A stand-in for the fleet simulator: switches whose
				// onboarding is the cold path's bootstrap.
				c, err := loadgen.Cold(ctx, target, loadgen.ColdConfig{Load: load, Devices: devs})
				out := make([]loadgen.Onboarded, c.OK)
				for i := range out {
					out[i] = loadgen.Onboarded{Took: c.Latency.P50}
				}
				return out, err
			}})
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, r, requests)
		})
	}

	t.Run("upload/center", func(t *testing.T) {
		r, err := loadgen.Upload(ctx, center, loadgen.UploadConfig{
			Platform: p.PlatformCert(t, loadgen.PlatformID), Devices: 250, Batch: 100, ESNPrefix: "UPTEST", Concurrency: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, r, 3)
		if r.Items != 250 || r.Outcomes["created"] != 250 || len(r.Outcomes) != 1 {
			t.Errorf("uploaded %d devices with outcomes %v; want 250 created", r.Items, r.Outcomes)
		}
	})
	t.Run("upload/baseline", func(t *testing.T) {
		r, err := loadgen.Upload(ctx, baseline, loadgen.UploadConfig{
			Platform: p.PlatformCert(t, "other-platform"), Devices: 250, Batch: 100, ESNPrefix: "UPTEST",
		})
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, r, 3)
		if r.Items != 250 || len(r.Outcomes) != 0 {
			t.Errorf("baseline took %d devices with outcomes %v; want 250 and no outcome", r.Items, r.Outcomes)
		}
	})
}

// Failures are counted by kind, not returned: a device no platform holds
// is a 404 not_claimed, a server that is gone a network error.
func TestScenarioErrors(t *testing.T) {
	ctx := context.Background()
	p := centertest.NewPKI(t)
	claimed := fleet(t, p, 1)
	center, _ := servers(t, p, claimed)
	stranger := loadgen.Device{ESN: "NOBODYCLAIMS", Certificate: p.DeviceCert(t, "NOBODYCLAIMS")}

	r, err := loadgen.Cold(ctx, center, loadgen.ColdConfig{Load: loadgen.Load{Requests: 4}, Devices: []loadgen.Device{claimed[0], stranger}})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 2 || r.Errors["404 not_claimed"] != 2 || len(r.Errors) != 1 {
		t.Errorf("ok %d, errors %v; want 2 ok and 2 × 404 not_claimed", r.OK, r.Errors)
	}

	r, err = loadgen.Flow(ctx, center, loadgen.FlowConfig{Run: func(context.Context) ([]loadgen.Onboarded, error) {
		return []loadgen.Onboarded{{Took: time.Second}, {Err: fmt.Errorf("registering: %w", context.DeadlineExceeded)}, {}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 3 || r.OK != 1 || r.Errors["timeout"] != 1 || r.Errors["not onboarded"] != 1 {
		t.Errorf("flow: %d of %d ok, errors %v; want 1 of 3, a timeout and one not onboarded", r.OK, r.Ops, r.Errors)
	}

	gone := center
	gone.URL = "https://127.0.0.1:1"
	r, err = loadgen.Cold(ctx, gone, loadgen.ColdConfig{Load: loadgen.Load{Requests: 2}, Devices: claimed})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 0 || r.Errors["net: connection refused"] != 2 {
		t.Errorf("ok %d, errors %v; want 2 × net: connection refused", r.OK, r.Errors)
	}
}
