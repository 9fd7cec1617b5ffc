package loadgen_test

import (
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter/loadgen"
)

func coldRun(target string, ok int, serverCPU, loadCPU time.Duration, errs map[string]int) loadgen.Result {
	return loadgen.Result{
		Scenario: "cold", Target: target, Unit: "request", Elapsed: time.Second, Ops: ok, OK: ok, Errors: errs,
		Latency:   loadgen.Latency{P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond},
		ServerPID: 42, ServerCPU: serverCPU, LoadCPU: loadCPU, LoadCores: 1,
	}
}

func TestWriteComparison(t *testing.T) {
	c := loadgen.Comparison{
		Scenario: "cold",
		// Medians: center 1,000 requests/s at 600µs each, baseline 1,000
		// at 500µs: a CPU ratio of 1.20, a throughput ratio of 1.00.
		Center: []loadgen.Result{
			coldRun("center", 900, 540*time.Millisecond, 500*time.Millisecond, nil),
			coldRun("center", 1000, 600*time.Millisecond, 500*time.Millisecond, nil),
			coldRun("center", 1100, 660*time.Millisecond, 500*time.Millisecond, map[string]int{"net: connection reset": 2}),
		},
		Baseline: []loadgen.Result{
			coldRun("baseline", 1000, 500*time.Millisecond, 950*time.Millisecond, nil),
		},
	}
	var b strings.Builder
	loadgen.WriteComparison(&b, []loadgen.Comparison{c})
	out := b.String()
	for _, want := range []string{
		"| cold | server CPU per request | 600.0µs (600.0µs–600.0µs) | 500.0µs | 1.20 | ≤ 1.05× **missed** |",
		"| cold | requests/s | 1,000/s (900/s–1,100/s) | 1,000/s | 1.00 | ≥ 0.95× met |",
		"- cold, baseline: 1 of 1 runs load-bound",
		"- cold, center: errors: 2 × net: connection reset",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the comparison lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteResultWarnsWhenLoadBound(t *testing.T) {
	var b strings.Builder
	loadgen.WriteResult(&b, coldRun("center", 1000, 500*time.Millisecond, 950*time.Millisecond, map[string]int{"404 not_claimed": 3}))
	out := b.String()
	for _, want := range []string{
		"requests    1000 ok of 1000 in 1s: 1,000 requests/s",
		"server CPU  500ms: 500.0µs per request",
		"errors      3 × 404 not_claimed",
		"WARNING: the load generator used 95% of its 1 CPU(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
