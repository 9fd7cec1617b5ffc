package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/center"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
	"github.com/regcenter/regcenter/postgres"
	"github.com/regcenter/regcenter/sqlite"
)

// devDir is where --dev keeps its PKI and store, relative to the working
// directory so that a newcomer finds it next to where they ran the command.
const devDir = "regcenter-dev"

type serveFlags struct {
	listen, opsListen                       string
	pkiDir                                  string
	tlsCert, tlsKey, platformCA, deviceCA   string
	store                                   string
	http2Only, allowTLS12, postQuantum, dev bool
	profiling, verifyEveryHandshake         bool
	logFormat, logLevel                     string
	notClaimedRetryAfter, flushInterval     time.Duration
	shutdownTimeout, eventRetention         time.Duration
	gcPercent                               int
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&f.listen, "listen", ":10020", "`address` of the API (HTTPS, mutual TLS); --dev defaults to 127.0.0.1:10020")
	fs.StringVar(&f.opsListen, "ops-listen", "127.0.0.1:9020", "`address` of /healthz, /readyz and /metrics (plain HTTP, no client certificates)")
	fs.StringVar(&f.pkiDir, "pki", "", "`directory` laid out by 'regcenter pki init': takes the four files below from it")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "the center's server certificate (PEM `file`)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "the center's server private key (PEM `file`)")
	fs.StringVar(&f.platformCA, "platform-ca", "", "PEM bundle of the CAs whose certificates identify platforms (`file`)")
	fs.StringVar(&f.deviceCA, "device-ca", "", "PEM bundle of the CAs whose certificates identify devices (`file`)")
	fs.StringVar(&f.store, "store", "", "where the center keeps its data: sqlite:`PATH` (default sqlite:regcenter.db; sqlite:regcenter-dev/center.db with --dev) or postgres://user@host:5432/db (several replicas may share one)")
	fs.BoolVar(&f.http2Only, "http2-only", false, "refuse HTTP/1.x requests (505 with a problem that says why)")
	fs.BoolVar(&f.allowTLS12, "tls12", false, "also accept TLS 1.2 (ECDHE with AEAD ciphers only) for older clients")
	fs.BoolVar(&f.postQuantum, "pq-kex", false, "prefer the hybrid post-quantum key exchange X25519MLKEM768 (more CPU per handshake)")
	fs.BoolVar(&f.verifyEveryHandshake, "verify-every-handshake", false, "verify the client's certificate chain in every handshake, not once per distinct chain while it is valid (ADR 9)")
	fs.IntVar(&f.gcPercent, "gc-percent", 200, "the Go garbage collector's target (GOGC): 200 trades some memory for less CPU per handshake; the GOGC variable, when set, wins")
	fs.BoolVar(&f.profiling, "ops-pprof", false, "serve the Go runtime's profiles at /debug/pprof/ on the operations listener")
	fs.BoolVar(&f.dev, "dev", false, "development mode: create ./"+devDir+"/ (PKI, a sample platform and devices) if empty and print curl commands")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&f.notClaimedRetryAfter, "not-claimed-retry-after", 60*time.Second, "Retry-After given to a switch that no platform has claimed yet")
	fs.DurationVar(&f.flushInterval, "bootstrap-flush-interval", time.Second, "how often bootstrap statistics are written (what a crash may lose)")
	fs.DurationVar(&f.eventRetention, "event-retention", 7*24*time.Hour, "how long device events stay available to GET /v1/events")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long requests in flight may take to finish on SIGINT/SIGTERM")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.eventRetention <= 0 {
		return usageError("--event-retention must be positive")
	}
	listenSet := false
	fs.Visit(func(fl *flag.Flag) { listenSet = listenSet || fl.Name == "listen" })

	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// A fleet powering on allocates mostly short-lived handshake state;
		// collecting half as often costs a little memory (idle connections
		// stay under the baseline's, see bench/results) and saves CPU.
		debug.SetGCPercent(f.gcPercent)
	}
	if f.dev {
		if err := prepareDev(&f, listenSet, log); err != nil {
			return err
		}
	}
	files, err := f.tlsFiles()
	if err != nil {
		return err
	}
	if f.store == "" {
		f.store = "sqlite:regcenter.db"
	}
	spec, err := parseStoreSpec(f.store)
	if err != nil {
		return err
	}

	authority, serverCert, err := loadServerTLS(files)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, spec)
	if err != nil {
		return err
	}
	defer store.Close()

	c, err := center.Start(center.Config{
		Listen: f.listen, OpsListen: f.opsListen,
		Store: store,
		TLS: authority.ServerConfig(mtls.ServerOptions{
			Certificate: serverCert, AllowTLS12: f.allowTLS12, PostQuantum: f.postQuantum, VerifyOnce: !f.verifyEveryHandshake,
		}),
		Identify:  authority.Identify,
		HTTP2Only: f.http2Only, NotClaimedRetryAfter: f.notClaimedRetryAfter,
		FlushInterval: f.flushInterval, EventRetention: f.eventRetention, Profiling: f.profiling,
		Logger: log,
	})
	if err != nil {
		return err
	}
	log.Info("center serving", "api", c.APIAddr, "ops", c.OpsAddr, "store", spec.String(), "http2_only", f.http2Only)
	fmt.Fprintf(stdout, "regcenter: API on https://%s (mutual TLS), operations on http://%s\n", c.APIAddr, c.OpsAddr)
	if f.dev {
		printDevCommands(stdout, c.APIAddr, c.OpsAddr)
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "deadline", f.shutdownTimeout)
	case runErr = <-c.Err():
		log.Error("server stopped", "err", runErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	c.Shutdown(shutdownCtx)
	return runErr
}

// tlsFiles resolves --pki against the explicit flags: an explicit flag
// overrides the file from the layout.
func (f *serveFlags) tlsFiles() (tlsFileSet, error) {
	s := tlsFileSet{cert: f.tlsCert, key: f.tlsKey, platformCA: f.platformCA, deviceCA: f.deviceCA}
	if f.pkiDir != "" {
		d := pki.Dir(f.pkiDir)
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&s.cert, d.ServerCert())
		fill(&s.key, d.ServerKey())
		fill(&s.platformCA, d.PlatformCACert())
		fill(&s.deviceCA, d.DeviceCACert())
	}
	var missing []string
	for _, m := range []struct{ name, v string }{{"--tls-cert", s.cert}, {"--tls-key", s.key}, {"--platform-ca", s.platformCA}, {"--device-ca", s.deviceCA}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return s, usageError("give --pki DIR, or %s", strings.Join(missing, ", "))
	}
	return s, nil
}

type tlsFileSet struct{ cert, key, platformCA, deviceCA string }

func loadServerTLS(files tlsFileSet) (*mtls.Authority, tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(files.cert, files.key)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	platformCAs, err := mtls.LoadCertificates(files.platformCA)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("--platform-ca: %w", err)
	}
	deviceCAs, err := mtls.LoadCertificates(files.deviceCA)
	if err != nil {
		return nil, tls.Certificate{}, fmt.Errorf("--device-ca: %w", err)
	}
	authority, err := mtls.NewAuthority(platformCAs, deviceCAs)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	return authority, cert, nil
}

// storeSpec is a parsed --store value: sqlite:PATH, or a PostgreSQL URL
// (postgres://… or postgresql://…; a password may also come from the
// standard PG* variables).
type storeSpec struct{ kind, target string }

func parseStoreSpec(spec string) (storeSpec, error) {
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return storeSpec{kind: "postgres", target: spec}, nil
	}
	if path, ok := strings.CutPrefix(spec, "sqlite:"); ok && path != "" {
		return storeSpec{kind: "sqlite", target: path}, nil
	}
	return storeSpec{}, usageError("--store must be sqlite:PATH or postgres://…, not %q", spec)
}

// openStore opens the store that spec names.
func openStore(ctx context.Context, spec storeSpec) (regcenter.Store, error) {
	var (
		s   regcenter.Store
		err error
	)
	switch spec.kind {
	case "postgres":
		s, err = postgres.Open(ctx, spec.target)
	default:
		s, err = sqlite.Open(ctx, spec.target)
	}
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", spec, err)
	}
	return s, nil
}

// String is the spec as it may be logged: without a password.
func (s storeSpec) String() string {
	if s.kind != "postgres" {
		return s.kind + ":" + s.target
	}
	u, err := url.Parse(s.target)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return u.Redacted()
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError("--log-level must be debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageError("--log-format must be text or json")
	}
}

// prepareDev makes ./regcenter-dev/ on first use and points the flags at
// it; flags given explicitly keep precedence.
func prepareDev(f *serveFlags, listenSet bool, log *slog.Logger) error {
	dir := pki.Dir(devDir)
	if _, err := os.Stat(dir.ServerCert()); errors.Is(err, os.ErrNotExist) {
		now := time.Now()
		if err := pki.Init(dir, []string{"localhost", "127.0.0.1", "::1"}, now); err != nil {
			return fmt.Errorf("--dev: %w", err)
		}
		if err := pki.IssuePlatform(dir, devPlatform, now); err != nil {
			return fmt.Errorf("--dev: %w", err)
		}
		for _, esn := range devDevices() {
			if err := pki.IssueDevice(dir, esn, now); err != nil {
				return fmt.Errorf("--dev: %w", err)
			}
		}
		log.Info("development PKI created", "dir", devDir)
	} else if err != nil {
		return fmt.Errorf("--dev: %w", err)
	}
	if f.pkiDir == "" {
		f.pkiDir = devDir
	}
	if f.store == "" {
		f.store = "sqlite:" + devDir + "/center.db"
	}
	if !listenSet {
		f.listen = "127.0.0.1:10020"
	}
	return nil
}

const devPlatform = "demo-platform"

// devDevices are the sample switches of --dev, with Huawei-style ESNs.
func devDevices() []string {
	return []string{"2102113374P0F4000046", "2102113374P0F4000047", "2102113374P0F4000048"}
}
