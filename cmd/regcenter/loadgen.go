package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/regcenter/regcenter/agent/fleet"
	"github.com/regcenter/regcenter/loadgen"
	"github.com/regcenter/regcenter/loadgen/suite"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

const loadgenUsage = `usage:
  regcenter loadgen baseline-server --pki DIR [--listen ADDR] [--pq-kex] [--tls12]
  regcenter loadgen setup  --pki DIR --url URL [--fleet N] [--esn-prefix P]
  regcenter loadgen cold   --pki DIR --url URL [--server-pid PID] [--duration D | --requests N] [--concurrency N]
  regcenter loadgen warm   --pki DIR --url URL [--server-pid PID] [--duration D | --requests N] [--conns K] [--concurrency N]
  regcenter loadgen upload --pki DIR --url URL [--server-pid PID] [--devices N] [--batch N] [--concurrency N]
  regcenter loadgen idle   --pki DIR --url URL [--server-pid PID] [--conns N] [--settle D]
  regcenter loadgen flow   --pki DIR --url URL [--server-pid PID] [--switches N] [--esn-prefix P] [--concurrency N]
  regcenter loadgen compare --pki DIR [--scenarios cold,warm,upload,idle] [--runs R] [--duration D] ...

baseline-server is a bare server with the center's TLS configuration that
answers every POST with a constant bootstrap answer: the cost of TLS and
HTTP/2 alone. flow runs the fleet simulator (agent/fleet) against a center
whose platform already holds the fleet (the reference platform, with the
devices imported). setup publishes the load generator's platform on a center
and claims its fleet, which cold and warm need. The scenarios print
throughput, latency percentiles, errors by kind, and with --server-pid
the server's CPU time per operation and its memory. compare starts the
center and the baseline itself, pinned to --server-cpus, runs each
scenario against both in turn, and prints a markdown table of the ratios.
Run 'regcenter loadgen SUBCOMMAND -h' for every flag.
`

func runLoadgen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return loadgenCommand(ctx, args, []string{self}, stdout, stderr)
}

// loadgenCommand runs the subcommand; self is how to start this program
// again, for the servers compare starts.
func loadgenCommand(ctx context.Context, args []string, self []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, loadgenUsage)
		return usageError("loadgen: no subcommand")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "baseline-server":
		return runBaselineServer(ctx, rest, stdout, stderr)
	case "setup", "cold", "warm", "upload", "idle", "flow":
		return runScenario(ctx, sub, rest, stdout, stderr)
	case "compare":
		return runCompare(ctx, rest, self, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, loadgenUsage)
		return nil
	default:
		fmt.Fprint(stderr, loadgenUsage)
		return usageError("loadgen: unknown subcommand %q", sub)
	}
}

// Defaults shared by the single scenarios and compare.
const (
	defaultFleet     = 500
	defaultESNPrefix = "LOADGEN"
	defaultURL       = "https://127.0.0.1:10020"
)

func runBaselineServer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("loadgen baseline-server", stderr)
	dir := fs.String("pki", "", "`directory` laid out by 'regcenter pki init' (the center's certificate and CAs)")
	listen := fs.String("listen", "127.0.0.1:10021", "`address` to serve on")
	pq := fs.Bool("pq-kex", false, "offer the hybrid post-quantum key exchange, as the center's --pq-kex")
	tls12 := fs.Bool("tls12", false, "also accept TLS 1.2, as the center's --tls12")
	prefix := fs.String("esn-prefix", defaultESNPrefix, "ESN prefix of the fleet: the constant answer names the fleet's first ESN, so that its size is a real answer's")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError("loadgen baseline-server: --pki is required")
	}
	esns, err := pki.FleetESNs(*prefix, 1)
	if err != nil {
		return usageError("loadgen baseline-server: --esn-prefix: %v", err)
	}
	// The center's own code and files make the TLS configuration, so that
	// the two servers differ in nothing TLS does.
	sf := serveFlags{pkiDir: *dir}
	files, err := sf.tlsFiles()
	if err != nil {
		return err
	}
	authority, cert, err := loadServerTLS(files)
	if err != nil {
		return err
	}
	anchor, err := os.ReadFile(pki.Dir(*dir).PlatformCACert())
	if err != nil {
		return err
	}
	b, err := loadgen.ListenBaseline(*listen,
		authority.ServerConfig(mtls.ServerOptions{Certificate: cert, AllowTLS12: *tls12, PostQuantum: *pq}),
		loadgen.BaselineAnswer(esns[0], string(anchor)))
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- b.Serve() }()
	fmt.Fprintf(stdout, "baseline: API on https://%s (mutual TLS), pid %d\n", b.Addr(), os.Getpid())
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return b.Shutdown(sctx)
}

// scenarioFlags are the flags of the single scenarios.
type scenarioFlags struct {
	pki, url, prefix             string
	serverPID, fleet             int
	pq, asJSON                   bool
	duration, settle             time.Duration
	requests, concurrency, conns int
	devices, batch               int
}

func runScenario(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	var f scenarioFlags
	fs := newFlagSet("loadgen "+name, stderr)
	fs.StringVar(&f.pki, "pki", "", "`directory` of the PKI the server uses; device and platform certificates are issued into it as needed")
	fs.StringVar(&f.url, "url", defaultURL, "the server: the center or a baseline-server")
	fs.BoolVar(&f.pq, "pq-kex", false, "offer the hybrid post-quantum key exchange (for a server started with --pq-kex)")
	if name != "setup" {
		fs.IntVar(&f.serverPID, "server-pid", 0, "the server's process `id`, to read its CPU time and memory from /proc (0: not measured)")
		fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	}
	switch name {
	case "setup", "cold", "warm", "idle":
		fs.IntVar(&f.fleet, "fleet", defaultFleet, "device certificates the switches cycle through (issued into --pki once)")
		fs.StringVar(&f.prefix, "esn-prefix", defaultESNPrefix, "ESN prefix of the fleet")
	case "flow":
		fs.IntVar(&f.fleet, "switches", 100, "simulated switches, each with its own certificate and state (issued into --pki once)")
		fs.StringVar(&f.prefix, "esn-prefix", fleet.DefaultESNPrefix, "ESN prefix of the switches, as the platform imported them")
		fs.DurationVar(&f.duration, "timeout", 5*time.Minute, "how long the whole fleet may take to onboard")
	case "upload":
		fs.IntVar(&f.devices, "devices", 100_000, "devices to upload")
		fs.IntVar(&f.batch, "batch", 10_000, "devices per request")
		fs.StringVar(&f.prefix, "esn-prefix", "", "ESN prefix of the uploaded devices (default: new ones every run)")
	}
	switch name {
	case "cold", "warm":
		fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run (unless --requests ends it first)")
		fs.IntVar(&f.requests, "requests", 0, "stop after this many operations (0: run for --duration)")
	}
	switch name {
	case "cold":
		fs.IntVar(&f.concurrency, "concurrency", 16, "switches connecting at once")
	case "warm":
		fs.IntVar(&f.conns, "conns", 8, "long-lived connections")
		fs.IntVar(&f.concurrency, "concurrency", 256, "requests in flight over all connections")
	case "upload":
		fs.IntVar(&f.concurrency, "concurrency", 1, "uploads in flight")
	case "idle":
		fs.IntVar(&f.conns, "conns", 1000, "idle connections to hold")
		fs.IntVar(&f.concurrency, "concurrency", 32, "connections being opened at once")
		fs.DurationVar(&f.settle, "settle", 2*time.Second, "how long the connections stay idle before the server's memory is read")
	case "flow":
		fs.IntVar(&f.concurrency, "concurrency", 32, "switches onboarding at once")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.pki == "" {
		return usageError("loadgen %s: --pki is required", name)
	}
	dir := pki.Dir(f.pki)
	roots, err := mtls.LoadPool(dir.CenterCACert())
	if err != nil {
		return err
	}
	t := loadgen.Target{Name: f.url, URL: f.url, Roots: roots, PostQuantum: f.pq, PID: f.serverPID}
	load := loadgen.Load{Requests: f.requests, Duration: f.duration, Concurrency: f.concurrency}

	var res loadgen.Result
	var failure error // once the result is printed
	switch name {
	case "setup":
		devs, err := loadgen.LoadFleet(ctx, dir, f.prefix, f.fleet)
		if err != nil {
			return err
		}
		platform, err := suite.PlatformCertificate(dir)
		if err != nil {
			return err
		}
		anchor, err := os.ReadFile(dir.PlatformCACert())
		if err != nil {
			return err
		}
		if err := loadgen.Prepare(ctx, t, platform, string(anchor), devs); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "platform %s published; %d devices %s… claimed\n", loadgen.PlatformID, len(devs), devs[0].ESN)
		return nil
	case "cold", "warm", "idle":
		devs, err := loadgen.LoadFleet(ctx, dir, f.prefix, f.fleet)
		if err != nil {
			return flagError("loadgen "+name, "--fleet/--esn-prefix", err)
		}
		switch name {
		case "cold":
			res, err = loadgen.Cold(ctx, t, loadgen.ColdConfig{Load: load, Devices: devs})
		case "warm":
			res, err = loadgen.Warm(ctx, t, loadgen.WarmConfig{Load: load, Devices: devs, Conns: f.conns})
		case "idle":
			res, err = loadgen.Idle(ctx, t, loadgen.IdleConfig{Devices: devs, Conns: f.conns, Concurrency: f.concurrency, Settle: f.settle})
		}
		if err != nil {
			return err
		}
	case "flow":
		state, err := os.MkdirTemp("", "regcenter-flow-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(state)
		res, err = loadgen.Flow(ctx, t, loadgen.FlowConfig{Run: func(ctx context.Context) ([]loadgen.Onboarded, error) {
			// Fresh state directories: every switch boots unconfigured.
			sum, err := fleet.Run(ctx, fleet.Config{
				PKI: dir, Count: f.fleet, ESNPrefix: f.prefix, CenterURL: f.url, CenterRoots: roots,
				StateDir: state, Concurrency: f.concurrency, Timeout: f.duration,
			})
			out := make([]loadgen.Onboarded, len(sum.Switches))
			for i, s := range sum.Switches {
				out[i].Took = s.Onboard
				if !s.Registered() {
					out[i].Err = cmp.Or(s.Stopped, s.LastErr)
				}
			}
			return out, err
		}})
		if res.Ops == 0 {
			return err
		}
		// A fleet that did not all onboard is still worth reporting,
		// and then a failure.
		failure = err
	case "upload":
		platform, err := suite.PlatformCertificate(dir)
		if err != nil {
			return err
		}
		if f.prefix == "" {
			f.prefix = "UP" + strings.ToUpper(strconv.FormatInt(time.Now().Unix(), 36)) + "-"
		}
		res, err = loadgen.Upload(ctx, t, loadgen.UploadConfig{Platform: platform, Devices: f.devices, Batch: f.batch, ESNPrefix: f.prefix, Concurrency: f.concurrency})
		if err != nil {
			return err
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		loadgen.WriteResult(stdout, res)
	}
	return failure
}

func runCompare(ctx context.Context, args []string, self []string, stdout, stderr io.Writer) error {
	cfg := suite.Config{Command: self, Log: stderr}
	var dir, scenarios, serverCPUs, loadCPUs, resultsFile string
	fs := newFlagSet("loadgen compare", stderr)
	fs.StringVar(&dir, "pki", "", "`directory` made by 'regcenter pki init'; the fleet and the platform are issued into it once")
	fs.StringVar(&scenarios, "scenarios", strings.Join(suite.Scenarios(), ","), "scenarios to run, comma-separated")
	fs.IntVar(&cfg.Runs, "runs", 3, "runs of each scenario against each server, alternated")
	fs.DurationVar(&cfg.Load.Duration, "duration", 10*time.Second, "length of one run of cold and warm")
	fs.IntVar(&cfg.Load.Requests, "requests", 0, "instead of --duration: requests in one run of cold and warm (for smoke tests)")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured load before each run of cold and warm")
	fs.IntVar(&cfg.Fleet, "fleet", defaultFleet, "device certificates the switches cycle through")
	fs.StringVar(&cfg.ESNPrefix, "esn-prefix", defaultESNPrefix, "ESN prefix of the fleet")
	fs.IntVar(&cfg.ColdConcurrency, "cold-concurrency", 16, "cold: switches connecting at once")
	fs.IntVar(&cfg.WarmConns, "warm-conns", 8, "warm: long-lived connections")
	fs.IntVar(&cfg.WarmConcurrency, "warm-concurrency", 256, "warm: requests in flight over all connections")
	fs.IntVar(&cfg.UploadDevices, "upload-devices", 100_000, "upload: devices uploaded in one run")
	fs.IntVar(&cfg.UploadBatch, "upload-batch", 10_000, "upload: devices per request")
	fs.IntVar(&cfg.UploadConcurrency, "upload-concurrency", 1, "upload: uploads in flight")
	fs.IntVar(&cfg.IdleConns, "idle-conns", 10_000, "idle: connections held")
	fs.IntVar(&cfg.IdleConcurrency, "idle-concurrency", 32, "idle: connections being opened at once")
	fs.DurationVar(&cfg.IdleSettle, "idle-settle", 2*time.Second, "idle: how long the connections stay idle before the server's memory is read")
	fs.StringVar(&cfg.Store, "store", "", "the center's --store, sqlite:`PATH` (default: a new file in a temporary directory); a kept store keeps its devices")
	fs.IntVar(&cfg.Fill, "fill", 0, "upload this many devices to the center's store before the scenarios (ESNs FILL…; with a kept --store, once is enough)")
	fs.StringVar(&serverCPUs, "server-cpus", "0", "CPUs the servers run on, comma-separated (empty: not pinned)")
	fs.StringVar(&loadCPUs, "load-cpus", "1", "CPUs the load generator runs on (empty: not pinned)")
	fs.BoolVar(&cfg.PostQuantum, "pq-kex", false, "run both servers and the clients with the hybrid post-quantum key exchange")
	fs.BoolVar(&cfg.TLS12, "tls12", false, "run both servers with --tls12 (the clients still speak TLS 1.3)")
	fs.StringVar(&resultsFile, "results-json", "", "also write every run's result to this `file` as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return usageError("loadgen compare: --pki is required")
	}
	cfg.PKI = pki.Dir(dir)
	var err error
	if cfg.ServerCPUs, err = cpuList("--server-cpus", serverCPUs); err != nil {
		return err
	}
	if cfg.LoadCPUs, err = cpuList("--load-cpus", loadCPUs); err != nil {
		return err
	}
	known := map[string]bool{}
	for _, s := range suite.Scenarios() {
		known[s] = true
	}
	for _, s := range splitList(scenarios) {
		if !known[s] {
			return usageError("loadgen compare: --scenarios: no scenario %q (flow needs package agent, not built yet)", s)
		}
		cfg.Scenarios = append(cfg.Scenarios, s)
	}
	if cfg.Load.Requests > 0 {
		cfg.Load.Duration = 0
	}
	if cfg.TempDir, err = os.MkdirTemp("", "regcenter-loadgen-"); err != nil {
		return err
	}
	defer os.RemoveAll(cfg.TempDir)

	rep, err := suite.Run(ctx, cfg)
	if err != nil {
		return err
	}
	writeCompareHeader(stdout, cfg, rep)
	loadgen.WriteComparison(stdout, rep.Comparisons)
	if resultsFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(resultsFile, b, 0o644); err != nil {
			return err
		}
	}
	if n := rep.Errors(); n > 0 {
		return fmt.Errorf("loadgen compare: %d operations failed; the figures above include them", n)
	}
	return nil
}

func writeCompareHeader(w io.Writer, cfg suite.Config, rep suite.Report) {
	run := strconv.Itoa(cfg.Load.Requests) + " requests"
	if cfg.Load.Requests == 0 {
		run = cfg.Load.Duration.String()
	}
	kex := "X25519"
	if cfg.PostQuantum {
		kex = "X25519MLKEM768"
	}
	pin := func(cpus []int) string {
		if len(cpus) == 0 {
			return "not pinned"
		}
		return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(cpus)), ","), "[]")
	}
	store := rep.Store
	if cfg.Store == "" {
		store = "a new SQLite file"
	}
	fmt.Fprintf(w, "- runs: %d of each scenario against each server, alternated, each on a freshly started server\n", cfg.Runs)
	for _, sc := range cfg.Scenarios {
		switch sc {
		case "cold":
			fmt.Fprintf(w, "- cold: %s per run after %s of warm-up; %d switches connecting at once, cycling through %d device certificates\n", run, cfg.Warmup, cfg.ColdConcurrency, cfg.Fleet)
		case "warm":
			fmt.Fprintf(w, "- warm: %s per run after %s of warm-up; %d connections, %d requests in flight\n", run, cfg.Warmup, cfg.WarmConns, cfg.WarmConcurrency)
		case "upload":
			fmt.Fprintf(w, "- upload: %d new devices per run in batches of %d, %d upload(s) in flight\n", cfg.UploadDevices, cfg.UploadBatch, cfg.UploadConcurrency)
		case "idle":
			fmt.Fprintf(w, "- idle: %d connections held, memory read after %s idle\n", cfg.IdleConns, cfg.IdleSettle)
		}
	}
	fmt.Fprintf(w, "- CPUs: servers %s, load generator %s; key exchange %s\n", pin(cfg.ServerCPUs), pin(cfg.LoadCPUs), kex)
	fmt.Fprintf(w, "- center store: %s, %.1f MiB on disk at the end", store, float64(rep.StoreBytes)/(1<<20))
	if cfg.Fill > 0 {
		fmt.Fprintf(w, " (filled with %d devices first)", cfg.Fill)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
}

// cpuList reads a comma-separated list of CPU numbers.
func cpuList(name, s string) ([]int, error) {
	var cpus []int
	for _, item := range splitList(s) {
		n, err := strconv.Atoi(item)
		if err != nil || n < 0 {
			return nil, usageError("%s: %q is not a CPU number", name, item)
		}
		cpus = append(cpus, n)
	}
	return cpus, nil
}
