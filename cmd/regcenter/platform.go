package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/cmp"
	"github.com/regcenter/regcenter/cmp/cmpclient"
	"github.com/regcenter/regcenter/cmp/cmpserver"
	"github.com/regcenter/regcenter/pki"
)

const platformUsage = `usage:
  regcenter platform serve --center URL --data DIR (--pki DIR --id ID | --cert F --key F --center-ca F
                           --device-ca F --tls-cert F --tls-key F --trust-anchor F) [flags]
  regcenter platform import [--admin URL] FILE.csv

serve runs the reference cloud management platform: the device API for
switches (HTTPS, mutual TLS with device certificates) and the admin API
(plain HTTP, loopback). import sends a CSV file (header esn,device_type) to
a running platform's admin API; a file with any bad row imports nothing.
`

func runPlatform(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 1 && args[0] == "serve":
		return runPlatformServe(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "import":
		return runPlatformImport(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help"):
		fmt.Fprint(stdout, platformUsage)
		return nil
	}
	fmt.Fprint(stderr, platformUsage)
	if len(args) == 0 {
		return usageError("platform: no subcommand")
	}
	return usageError("platform: unknown subcommand %q", args[0])
}

type platformFlags struct {
	center, data, listen, adminListen, advertise string
	pkiDir, id                                   string
	cert, key, centerCA                          string
	deviceCA, tlsCert, tlsKey, trustAnchor       string
	heartbeat, retryInitial, retryMax            time.Duration
	syncInterval, shutdownTimeout                time.Duration
	logFormat, logLevel                          string
}

func runPlatformServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f platformFlags
	fs := newFlagSet("platform serve", stderr)
	fs.StringVar(&f.center, "center", "", "`URL` of the registration center (https://host:10020)")
	fs.StringVar(&f.data, "data", "", "`directory` of the platform's database (created if missing)")
	fs.StringVar(&f.listen, "listen", ":10030", "`address` of the device API (HTTPS, mutual TLS with device certificates)")
	fs.StringVar(&f.adminListen, "admin-listen", "127.0.0.1:10031", "`address` of the admin API (plain HTTP without authentication: keep it on loopback)")
	fs.StringVar(&f.advertise, "advertise", "", "`host:port[,host:port]` published at the center for switches (default: what --listen bound)")
	fs.StringVar(&f.pkiDir, "pki", "", "`directory` laid out by 'regcenter pki init': with --id, takes every file below from it")
	fs.StringVar(&f.id, "id", "", "the platform's `ID` in the --pki layout (platforms/ID/...)")
	fs.StringVar(&f.cert, "cert", "", "the platform's client certificate toward the center (PEM `file`)")
	fs.StringVar(&f.key, "key", "", "its private key (PEM `file`)")
	fs.StringVar(&f.centerCA, "center-ca", "", "PEM bundle of the center's CA (`file`)")
	fs.StringVar(&f.deviceCA, "device-ca", "", "PEM bundle of the CAs of the switches' device certificates (`file`)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "the device API's server certificate (PEM `file`)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "its private key (PEM `file`)")
	fs.StringVar(&f.trustAnchor, "trust-anchor", "", "PEM bundle of the CA(s) of --tls-cert, published so that switches can verify the platform (`file`; --pki: platform-ca.crt)")
	fs.DurationVar(&f.heartbeat, "heartbeat-interval", cmp.DefaultHeartbeatInterval, "how often switches heartbeat; offline after 3 missed")
	fs.DurationVar(&f.retryInitial, "retry-initial", backoff.Default().Initial, "first delay before retrying the center")
	fs.DurationVar(&f.retryMax, "retry-max", backoff.Default().Max, "longest delay between retries of the center")
	fs.DurationVar(&f.syncInterval, "sync-interval", time.Minute, "how often the outbox is looked at without a new import")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long requests in flight may take to finish on SIGINT/SIGTERM")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	cfg.Logger = log

	p, err := cmpserver.Start(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "regcenter platform: devices on %s, admin on %s\n", p.DeviceURL, p.AdminURL)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "deadline", f.shutdownTimeout)
	case runErr = <-p.Err():
		log.Error("server stopped", "err", runErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownTimeout)
	defer cancel()
	if err := p.Shutdown(shutdownCtx); err != nil && runErr == nil {
		log.Warn("shutdown", "err", err)
	}
	return runErr
}

// config checks the flags and loads what they name; --pki --id fills
// every file flag not given explicitly.
func (f *platformFlags) config() (cmpserver.Config, error) {
	files := cmpserver.Files{Cert: f.cert, Key: f.key, CenterCA: f.centerCA, DeviceCA: f.deviceCA, TLSCert: f.tlsCert, TLSKey: f.tlsKey, TrustAnchor: f.trustAnchor}
	if f.pkiDir != "" || f.id != "" {
		if f.pkiDir == "" || f.id == "" {
			return cmpserver.Config{}, usageError("platform serve: --pki and --id go together")
		}
		layout := cmpserver.PKIFiles(pki.Dir(f.pkiDir), f.id)
		for _, fill := range []struct {
			dst  *string
			file string
		}{
			{&files.Cert, layout.Cert}, {&files.Key, layout.Key}, {&files.CenterCA, layout.CenterCA}, {&files.DeviceCA, layout.DeviceCA},
			{&files.TLSCert, layout.TLSCert}, {&files.TLSKey, layout.TLSKey}, {&files.TrustAnchor, layout.TrustAnchor},
		} {
			if *fill.dst == "" {
				*fill.dst = fill.file
			}
		}
	}
	var missing []string
	for _, m := range []struct{ name, v string }{
		{"--center", f.center}, {"--data", f.data}, {"--cert", files.Cert}, {"--key", files.Key}, {"--center-ca", files.CenterCA},
		{"--device-ca", files.DeviceCA}, {"--tls-cert", files.TLSCert}, {"--tls-key", files.TLSKey}, {"--trust-anchor", files.TrustAnchor},
	} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return cmpserver.Config{}, usageError("platform serve: give %s (or --pki DIR --id ID for the certificate files)", strings.Join(missing, ", "))
	}
	if f.retryInitial <= 0 || f.retryMax < f.retryInitial {
		return cmpserver.Config{}, usageError("platform serve: need 0 < --retry-initial <= --retry-max")
	}
	if f.heartbeat < time.Second || f.syncInterval <= 0 {
		return cmpserver.Config{}, usageError("platform serve: --heartbeat-interval must be at least 1s and --sync-interval positive")
	}
	cfg := cmpserver.Config{
		CenterURL: f.center, Listen: f.listen, AdminListen: f.adminListen, DataDir: f.data,
		HeartbeatInterval: f.heartbeat, SyncInterval: f.syncInterval,
		Retry: backoff.Policy{Initial: f.retryInitial, Max: f.retryMax, Multiplier: 2},
	}
	if f.advertise != "" {
		addrs, err := parseAdvertise(f.advertise)
		if err != nil {
			return cmpserver.Config{}, err
		}
		cfg.Advertise = addrs
	}
	if err := files.Load(&cfg); err != nil {
		return cmpserver.Config{}, err
	}
	return cfg, nil
}

// parseAdvertise reads host:port[,host:port].
func parseAdvertise(s string) ([]regcenter.Address, error) {
	var addrs []regcenter.Address
	for _, item := range splitList(s) {
		host, portText, err := net.SplitHostPort(item)
		port, perr := strconv.Atoi(portText)
		if err != nil || perr != nil {
			return nil, usageError("platform serve: --advertise: %q is not host:port", item)
		}
		addrs = append(addrs, regcenter.Address{Host: host, Port: port})
	}
	if err := regcenter.ValidateAddresses(addrs); err != nil {
		return nil, flagError("platform serve", "--advertise", err)
	}
	return addrs, nil
}

func runPlatformImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("platform import", stderr)
	adminURL := fs.String("admin", "http://127.0.0.1:10031", "`URL` of the platform's admin API")
	// The file may come before or after the flags.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if len(files) != 1 {
		return usageError("platform import: give exactly one CSV file")
	}
	admin, err := cmpclient.NewAdmin(*adminURL)
	if err != nil {
		return usageError("platform import: --admin: %v", err)
	}
	file, err := os.Open(files[0])
	if err != nil {
		return err
	}
	defer file.Close()
	r, err := admin.ImportCSV(ctx, file)
	var refused *cmpclient.RefusedError
	if errors.As(err, &refused) {
		for _, e := range refused.Problem.Errors {
			esn := ""
			if e.ESN != "" {
				esn = " " + e.ESN
			}
			fmt.Fprintf(stderr, "%s:%d:%s %s\n", files[0], e.Line, esn, e.Detail)
		}
		return fmt.Errorf("%s: %w", files[0], err)
	}
	if err != nil {
		return fmt.Errorf("platform import %s: %w", files[0], err)
	}
	fmt.Fprintf(stdout, "imported %s: %d new, %d updated, %d unchanged\n", files[0], r.Imported, r.Updated, r.Unchanged)
	return nil
}
