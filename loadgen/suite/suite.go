// Package suite runs the comparison that issue 5 asks for in one
// invocation: the center and the baseline server as child processes
// pinned to their CPUs, the load generator pinned to others, every
// scenario run against the two alternately, and the results gathered for
// loadgen.WriteComparison.
//
// It owns the processes and the order of the runs; what a run measures
// is package loadgen's. It must never import the center's packages
// (httpapi, a store): the center runs as `regcenter serve`, exactly as an
// operator runs it.
package suite

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regcenter/regcenter/loadgen"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// Scenarios are the scenarios a comparison can run, in their usual order.
func Scenarios() []string { return []string{"cold", "warm", "upload", "idle"} }

// Config is one comparison.
type Config struct {
	// Command starts this program: os.Executable(), and in tests the
	// arguments that make a test binary act as it. The center runs as
	// Command + "serve ...", the baseline as Command + "loadgen
	// baseline-server ...".
	Command []string
	PKI     pki.Dir
	// Store is the center's --store; empty makes a new SQLite file in
	// TempDir. A store kept from an earlier run (a large one, say) keeps
	// its devices.
	Store   string
	TempDir string

	Scenarios []string
	Runs      int // runs of each scenario against each server
	// Load is one run of cold and warm: a duration, or a number of
	// requests. Warmup runs, unmeasured, before each of their runs.
	Load   loadgen.Load
	Warmup time.Duration

	Fleet     int    // device certificates the switches cycle through
	ESNPrefix string // of the fleet's ESNs

	ColdConcurrency            int
	WarmConns, WarmConcurrency int
	UploadDevices, UploadBatch int
	UploadConcurrency          int
	IdleConns, IdleConcurrency int
	IdleSettle                 time.Duration
	Fill                       int // devices uploaded to the center's store before the scenarios
	ServerCPUs, LoadCPUs       []int
	PostQuantum, TLS12         bool
	Log                        io.Writer // progress, and the servers' own logs
}

// Report is what a comparison found.
type Report struct {
	Comparisons []loadgen.Comparison
	Store       string
	StoreBytes  int64 // the center's store on disk at the end (database, WAL and shared memory)
}

// Errors counts the errors of every run.
func (r Report) Errors() int {
	n := 0
	for _, c := range r.Comparisons {
		for _, res := range append(append([]loadgen.Result(nil), c.Center...), c.Baseline...) {
			n += res.ErrorCount()
		}
	}
	return n
}

// material is what every run needs from the PKI.
type material struct {
	roots       *x509.CertPool
	platform    tls.Certificate
	trustAnchor string
	fleet       []loadgen.Device
}

func load(ctx context.Context, cfg Config) (material, error) {
	var m material
	var err error
	if m.roots, err = mtls.LoadPool(cfg.PKI.CenterCACert()); err != nil {
		return m, err
	}
	anchor, err := os.ReadFile(cfg.PKI.PlatformCACert())
	if err != nil {
		return m, err
	}
	m.trustAnchor = string(anchor)
	if m.platform, err = PlatformCertificate(cfg.PKI); err != nil {
		return m, err
	}
	m.fleet, err = loadgen.LoadFleet(ctx, cfg.PKI, cfg.ESNPrefix, cfg.Fleet)
	return m, err
}

// PlatformCertificate returns the client certificate of
// loadgen.PlatformID in dir, issuing it the first time.
func PlatformCertificate(dir pki.Dir) (tls.Certificate, error) {
	err := pki.IssuePlatform(dir, loadgen.PlatformID, time.Now())
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(dir.PlatformCert(loadgen.PlatformID), dir.PlatformKey(loadgen.PlatformID))
}

// Run runs the comparison. Its error is a failure of the tool (a server
// that would not start, a PKI it cannot read); failed operations are in
// the Report.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cfg.Log = &syncWriter{w: cfg.Log}
	if cfg.Runs <= 0 {
		cfg.Runs = 1
	}
	rep := Report{Store: cfg.Store}
	if rep.Store == "" {
		rep.Store = "sqlite:" + filepath.Join(cfg.TempDir, "center.db")
	}
	// Children inherit the raised limit: the servers hold the idle
	// connections too.
	if slices.Contains(cfg.Scenarios, "idle") {
		if err := loadgen.RaiseFileLimit(uint64(cfg.IdleConns) + 1024); err != nil {
			return rep, err
		}
	}
	m, err := load(ctx, cfg)
	if err != nil {
		return rep, err
	}
	if len(cfg.LoadCPUs) > 0 {
		if err := loadgen.PinSelf(cfg.LoadCPUs); err != nil {
			return rep, fmt.Errorf("pin the load generator: %w", err)
		}
	}
	r := &runner{cfg: cfg, m: m, store: rep.Store}
	if cfg.Fill > 0 {
		if err := r.fill(ctx); err != nil {
			return rep, err
		}
	}
	for _, sc := range cfg.Scenarios {
		c := loadgen.Comparison{Scenario: sc}
		for run := 1; run <= cfg.Runs; run++ {
			// Alternate, so that whatever else the machine does weighs on
			// both alike.
			for _, name := range []string{"center", "baseline"} {
				res, err := r.one(ctx, sc, name, run)
				if err != nil {
					return rep, fmt.Errorf("%s against the %s, run %d: %w", sc, name, run, err)
				}
				if name == "center" {
					c.Center = append(c.Center, res)
				} else {
					c.Baseline = append(c.Baseline, res)
				}
				fmt.Fprintf(cfg.Log, "%s %s run %d/%d: %s\n", sc, name, run, cfg.Runs, summary(res))
			}
		}
		rep.Comparisons = append(rep.Comparisons, c)
	}
	rep.StoreBytes = storeBytes(rep.Store)
	return rep, ctx.Err()
}

type runner struct {
	cfg   Config
	m     material
	store string
}

// one starts a fresh server for one run, so that no run inherits another's
// heap or connections (the idle scenario's memory figure needs that), and
// runs the scenario against it.
func (r *runner) one(ctx context.Context, scenario, server string, run int) (loadgen.Result, error) {
	srv, t, err := r.start(ctx, server)
	if err != nil {
		return loadgen.Result{}, err
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(r.cfg.Log, "stopping the %s: %v\n", server, err)
		}
	}()
	cfg := r.cfg
	switch scenario {
	case "cold":
		c := loadgen.ColdConfig{Load: cfg.Load, Devices: r.m.fleet}
		c.Concurrency = cfg.ColdConcurrency
		if err := r.warmup(ctx, func(l loadgen.Load) error {
			w := c
			w.Load = l
			_, err := loadgen.Cold(ctx, t, w)
			return err
		}, c.Concurrency); err != nil {
			return loadgen.Result{}, err
		}
		return loadgen.Cold(ctx, t, c)
	case "warm":
		c := loadgen.WarmConfig{Load: cfg.Load, Devices: r.m.fleet, Conns: cfg.WarmConns}
		c.Concurrency = cfg.WarmConcurrency
		if err := r.warmup(ctx, func(l loadgen.Load) error {
			w := c
			w.Load = l
			_, err := loadgen.Warm(ctx, t, w)
			return err
		}, c.Concurrency); err != nil {
			return loadgen.Result{}, err
		}
		return loadgen.Warm(ctx, t, c)
	case "upload":
		return loadgen.Upload(ctx, t, loadgen.UploadConfig{
			Platform: r.m.platform, Devices: cfg.UploadDevices, Batch: cfg.UploadBatch, Concurrency: cfg.UploadConcurrency,
			// New devices in every run, even in a store kept from an
			// earlier comparison.
			ESNPrefix: fmt.Sprintf("UP%s-%d-", strings.ToUpper(strconv.FormatInt(time.Now().Unix(), 36)), run),
		})
	case "idle":
		return loadgen.Idle(ctx, t, loadgen.IdleConfig{Devices: r.m.fleet, Conns: cfg.IdleConns, Concurrency: cfg.IdleConcurrency, Settle: cfg.IdleSettle})
	}
	return loadgen.Result{}, fmt.Errorf("no scenario %q", scenario)
}

// warmup runs a scenario unmeasured, so that the measured run starts with
// the server's code paged in and its heap grown.
func (r *runner) warmup(ctx context.Context, run func(loadgen.Load) error, concurrency int) error {
	l := loadgen.Load{Duration: r.cfg.Warmup, Concurrency: concurrency}
	if r.cfg.Warmup <= 0 {
		if r.cfg.Load.Requests <= 0 {
			return nil
		}
		l = loadgen.Load{Requests: min(r.cfg.Load.Requests, 10), Concurrency: concurrency}
	}
	return run(l)
}

// fill uploads cfg.Fill devices to the center once, before the scenarios:
// the store size at which the bootstrap figures are taken.
func (r *runner) fill(ctx context.Context) error {
	srv, t, err := r.start(ctx, "center")
	if err != nil {
		return err
	}
	defer srv.stop()
	res, err := loadgen.Upload(ctx, t, loadgen.UploadConfig{
		Platform: r.m.platform, Devices: r.cfg.Fill, ESNPrefix: "FILL", Concurrency: 2,
	})
	if err != nil {
		return fmt.Errorf("fill the store: %w", err)
	}
	if n := res.ErrorCount(); n > 0 {
		return fmt.Errorf("fill the store: %d errors: %v", n, res.ErrorSamples)
	}
	fmt.Fprintf(r.cfg.Log, "filled the store with %d devices (%v)\n", r.cfg.Fill, res.Outcomes)
	return nil
}

// start starts the center (ready for the bootstrap scenarios: its platform
// published, its fleet claimed) or the baseline.
func (r *runner) start(ctx context.Context, server string) (*process, loadgen.Target, error) {
	cmd := append([]string(nil), r.cfg.Command...)
	dir := string(r.cfg.PKI)
	if server == "center" {
		cmd = append(cmd, "serve", "--pki", dir, "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0",
			"--store", r.store, "--log-level", "warn")
	} else {
		cmd = append(cmd, "loadgen", "baseline-server", "--pki", dir, "--listen", "127.0.0.1:0", "--esn-prefix", r.cfg.ESNPrefix)
	}
	if r.cfg.PostQuantum {
		cmd = append(cmd, "--pq-kex")
	}
	if r.cfg.TLS12 {
		cmd = append(cmd, "--tls12")
	}
	p, err := startProcess(server, cmd, r.cfg.ServerCPUs, r.cfg.Log)
	if err != nil {
		return nil, loadgen.Target{}, err
	}
	t := loadgen.Target{Name: server, URL: p.url, Roots: r.m.roots, PostQuantum: r.cfg.PostQuantum, PID: p.pid()}
	if server == "center" {
		if err := loadgen.Prepare(ctx, t, r.m.platform, r.m.trustAnchor, r.m.fleet); err != nil {
			p.stop()
			return nil, t, err
		}
	}
	return p, t, nil
}

func summary(r loadgen.Result) string {
	var b strings.Builder
	loadgen.WriteSummary(&b, r)
	return b.String()
}

// storeBytes is the size on disk of a sqlite:PATH store, 0 when unknown.
func storeBytes(store string) int64 {
	path, ok := strings.CutPrefix(store, "sqlite:")
	if !ok {
		return 0
	}
	var n int64
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// syncWriter serialises the writes of the servers' log copiers and of the
// progress lines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
