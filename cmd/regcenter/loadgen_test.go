package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/regcenter/regcenter/loadgen"
)

// helperCommand starts this test binary as the regcenter command (see
// TestMain): how compare's child servers run in a test.
func helperCommand(t *testing.T) []string {
	t.Setenv(asCommandEnv, "1")
	return []string{os.Args[0]}
}

// TestLoadgenCompare runs the whole comparison at a tiny size: the center
// and the baseline as child processes, every scenario against both.
// Pinning is left out here (it would pin the test process itself) and
// tested in package loadgen.
func TestLoadgenCompare(t *testing.T) {
	dir := initPKI(t)
	var stdout, stderr bytes.Buffer
	err := loadgenCommand(context.Background(), []string{"compare", "--pki", string(dir),
		"--runs", "1", "--requests", "20", "--warmup", "0", "--fleet", "5",
		"--upload-devices", "300", "--upload-batch", "100", "--idle-conns", "20", "--idle-settle", "10ms",
		"--server-cpus", "", "--load-cpus", "", "--results-json", dir.CenterCACert() + ".json",
	}, helperCommand(t), &stdout, &stderr)
	if err != nil {
		t.Fatalf("compare: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"| cold | server CPU per request |", "| cold | requests/s |",
		"| warm | requests/s |", "| upload | devices/s |",
		"| idle | memory per connection |", "| idle | connections held | 20 | 20 | 1.00 |",
		"center store: a new SQLite file",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	for _, line := range []string{"cold center run 1/1: 20/20 ok", "cold baseline run 1/1: 20/20 ok", "upload center run 1/1: 3/3 ok", "idle baseline run 1/1: 20/20 ok"} {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("progress lacks %q:\n%s", line, stderr.String())
		}
	}

	b, err := os.ReadFile(dir.CenterCACert() + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Comparisons []loadgen.Comparison
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Comparisons) != 4 {
		t.Fatalf("%d comparisons in the JSON; want 4", len(rep.Comparisons))
	}
	for _, c := range rep.Comparisons {
		for _, r := range append(c.Center, c.Baseline...) {
			if r.ServerPID == 0 || r.ServerPID == os.Getpid() || r.Failed() != 0 {
				t.Errorf("%s/%s: server pid %d (want a child's), %d failed", r.Scenario, r.Target, r.ServerPID, r.Failed())
			}
		}
	}
	if up := rep.Comparisons[2].Center[0]; up.Outcomes["created"] != 300 {
		t.Errorf("the center's upload run: outcomes %v; want 300 created", up.Outcomes)
	}
}

// The single scenarios against a center started as `regcenter serve`, and
// set up by `loadgen setup`.
func TestLoadgenScenarioCommands(t *testing.T) {
	dir := initPKI(t)
	api, _, _ := startServe(t, "--pki", string(dir), "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--store", "sqlite:"+t.TempDir()+"/center.db")
	url := "https://" + api
	common := []string{"--pki", string(dir), "--url", url}
	if out, err := runCLI(t, append([]string{"loadgen", "setup", "--fleet", "5"}, common...)...); err != nil || !strings.Contains(out, "5 devices LOADGEN0000… claimed") {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	pid := fmt.Sprint(os.Getpid())
	for _, c := range []struct {
		args []string
		ok   int
	}{
		{[]string{"cold", "--fleet", "5", "--requests", "10"}, 10},
		{[]string{"warm", "--fleet", "5", "--requests", "10", "--conns", "2", "--concurrency", "4"}, 10},
		{[]string{"upload", "--devices", "50", "--batch", "20"}, 3},
		{[]string{"idle", "--fleet", "5", "--conns", "10", "--settle", "1ms"}, 10},
	} {
		args := append(append([]string{"loadgen"}, c.args...), append(common, "--server-pid", pid, "--json")...)
		out, err := runCLI(t, args...)
		if err != nil {
			t.Errorf("%s: %v\n%s", c.args[0], err, out)
			continue
		}
		var r loadgen.Result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Errorf("%s: not JSON: %v\n%s", c.args[0], err, out)
			continue
		}
		if r.Scenario != c.args[0] || r.OK != c.ok || r.Failed() != 0 || len(r.Errors) != 0 || r.ServerPID != os.Getpid() {
			t.Errorf("%s: %+v; want %d ok and no error", c.args[0], r, c.ok)
		}
	}
	// Without --json, the report for a person.
	out, err := runCLI(t, append([]string{"loadgen", "cold", "--fleet", "5", "--requests", "4"}, common...)...)
	if err != nil || !strings.Contains(out, "requests    4 ok of 4") || !strings.Contains(out, "latency     p50 ") {
		t.Errorf("cold report: %v\n%s", err, out)
	}
}

func TestLoadgenRefusesBadFlags(t *testing.T) {
	dir := string(initPKI(t))
	for _, args := range [][]string{
		{"loadgen"},
		{"loadgen", "nonsense"},
		{"loadgen", "cold"}, // no --pki
		{"loadgen", "cold", "--pki", dir, "stray"},
		{"loadgen", "baseline-server"},
		{"loadgen", "baseline-server", "--pki", dir, "--esn-prefix", "bad prefix"},
		{"loadgen", "compare"},
		{"loadgen", "compare", "--pki", dir, "--scenarios", "cold,nonsense"},
		{"loadgen", "compare", "--pki", dir, "--server-cpus", "zero"},
	} {
		out, err := runCLI(t, args...)
		wantUsageError(t, err, out)
	}
}
