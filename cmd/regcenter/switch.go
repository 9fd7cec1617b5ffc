package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/agent/fleet"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
)

// defaultCenterURL is the center a switch asks when --center is not given.
// Vendors bake theirs into the firmware; here it is set at build time:
//
//	go build -ldflags "-X main.defaultCenterURL=https://center.example.net:10020" ./cmd/regcenter
//
// It is the command's one package-level variable, the exception to "no
// global state", because the linker can set nothing else; nothing assigns
// it at run time.
var defaultCenterURL = "https://localhost:10020"

// defaultCenterPort is the port of a --center without one, the port
// Huawei's registration center listens on.
const defaultCenterPort = "10020"

const switchUsage = `usage:
  regcenter switch run --state DIR --cert F --key F --center-ca F [--center URL] [flags]
  regcenter switch reset --state DIR
  regcenter switch fleet --pki DIR --count N [--center URL] [--concurrency C] [flags]

run is one switch: it asks the center where its platform is, persists cloud
mode, restarts by executing itself again, registers and heartbeats, until
SIGINT or SIGTERM. reset is the factory reset: traditional mode, nothing
remembered. fleet runs N simulated switches in this process and exits 0
only when all of them registered.
`

// restarter restarts the switch once its new mode is persisted; it
// returns only if it failed.
type restarter func() error

func runSwitch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 1 && args[0] == "run":
		return runSwitchAgent(ctx, args[1:], stderr, execSelf)
	case len(args) >= 1 && args[0] == "reset":
		return runSwitchReset(args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "fleet":
		return runSwitchFleet(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help"):
		fmt.Fprint(stdout, switchUsage)
		return nil
	}
	fmt.Fprint(stderr, switchUsage)
	if len(args) == 0 {
		return usageError("switch: no subcommand")
	}
	return usageError("switch: unknown subcommand %q", args[0])
}

// switchFlags are what run and fleet share: where the center is, what a
// switch reports, and how it paces its retries.
type switchFlags struct {
	initial, max, maxRetryAfter, requestTimeout time.Duration
	deviceType, softwareVersion                 string
	center                                      string
}

func (r *switchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.center, "center", defaultCenterURL, "`URL` of the registration center (https://, port "+defaultCenterPort+" unless given)")
	fs.DurationVar(&r.initial, "retry-initial", time.Second, "first retry delay (it doubles, with jitter, up to --retry-max)")
	fs.DurationVar(&r.max, "retry-max", time.Minute, "longest retry delay (a Retry-After from the center may be longer)")
	fs.DurationVar(&r.maxRetryAfter, "max-retry-after", 0, "cap on the center's Retry-After (0: none); for demos that cannot wait a minute")
	fs.DurationVar(&r.requestTimeout, "request-timeout", 10*time.Second, "bound on each request to the center or the platform")
	fs.StringVar(&r.deviceType, "device-type", agent.DefaultDeviceType, "device type the switch reports")
	fs.StringVar(&r.softwareVersion, "software-version", "", "software version the switch reports")
}

// resolve checks the flags, completes the center's URL and returns the
// retry policy.
func (r *switchFlags) resolve() (backoff.Policy, error) {
	var err error
	if r.center, err = centerURL(r.center); err != nil {
		return backoff.Policy{}, err
	}
	if r.initial <= 0 || r.max < r.initial {
		return backoff.Policy{}, usageError("--retry-initial must be positive and --retry-max at least as long")
	}
	if r.maxRetryAfter < 0 || r.requestTimeout <= 0 {
		return backoff.Policy{}, usageError("--max-retry-after must not be negative, --request-timeout must be positive")
	}
	return backoff.Policy{Initial: r.initial, Max: r.max, Multiplier: 2}, nil
}

// centerURL completes a --center value: https:// and port 10020 are
// implied, so "center.example.net" is https://center.example.net:10020.
func centerURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", usageError("--center must be https://HOST[:PORT], not %q", s)
	}
	port := u.Port()
	if port == "" {
		port = defaultCenterPort
	}
	return "https://" + net.JoinHostPort(u.Hostname(), port), nil
}

func runSwitchAgent(ctx context.Context, args []string, stderr io.Writer, restart restarter) error {
	fs := newFlagSet("switch run", stderr)
	var rf switchFlags
	rf.register(fs)
	stateDir := fs.String("state", "", "the switch's state `directory` (its only memory across restarts)")
	certFile := fs.String("cert", "", "the device certificate (PEM `file`); its subject serialNumber is the ESN")
	keyFile := fs.String("key", "", "the device certificate's private key (PEM `file`)")
	centerCA := fs.String("center-ca", "", "the center's CA (PEM `file`): the only CA the center is verified against")
	platformCA := fs.String("platform-ca", "", "preinstalled platform CA (PEM `file`): verifies a platform found by DHCP option 148")
	mgmtIP := fs.String("mgmt-ip", "", "the switch's management address, as `CIDR` (static discovery)")
	option148 := fs.String("option148", "", "DHCP option 148 `text` (agilemode=agile-cloud;agilemanage-mode=...); malformed is ignored")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var missing []string
	for _, m := range []struct{ name, v string }{{"--state", *stateDir}, {"--cert", *certFile}, {"--key", *keyFile}, {"--center-ca", *centerCA}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return usageError("switch run: %s required", strings.Join(missing, ", "))
	}
	policy, err := rf.resolve()
	if err != nil {
		return err
	}
	var lease agent.Lease
	if *mgmtIP != "" {
		if lease.Address, err = netip.ParsePrefix(*mgmtIP); err != nil {
			return usageError("--mgmt-ip must be an address with its prefix length, like 192.0.2.10/24")
		}
	}
	lease.Option148 = *option148
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}

	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return fmt.Errorf("device certificate: %w", err)
	}
	roots, err := mtls.LoadPool(*centerCA)
	if err != nil {
		return fmt.Errorf("--center-ca: %w", err)
	}
	var platformPEM []byte
	if *platformCA != "" {
		if platformPEM, err = os.ReadFile(*platformCA); err != nil {
			return fmt.Errorf("--platform-ca: %w", err)
		}
	}
	a, err := agent.New(agent.Config{
		StateDir: *stateDir, Certificate: cert, CenterURL: rf.center, CenterRoots: roots, PlatformCA: string(platformPEM),
		Discovery: agent.Static(lease), DeviceType: rf.deviceType, SoftwareVersion: rf.softwareVersion,
		Retry: policy, MaxRetryAfter: rf.maxRetryAfter, RequestTimeout: rf.requestTimeout, Logger: log,
	})
	if err != nil {
		return err
	}
	// The pid shows a restart to be a new program in the same process.
	log.Info("switch agent starting", "pid", os.Getpid(), "center", rf.center)
	err = a.Run(ctx)
	switch {
	case errors.Is(err, agent.ErrRestart):
		log.Info("restarting: executing the agent again")
		return restart()
	case ctx.Err() != nil:
		log.Info("switch agent stopped")
		return nil
	}
	return err
}

func runSwitchReset(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("switch reset", stderr)
	stateDir := fs.String("state", "", "the switch's state `directory`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *stateDir == "" {
		return usageError("switch reset: --state is required")
	}
	if err := agent.Reset(*stateDir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "switch reset: %s is back to traditional mode with nothing remembered\n", *stateDir)
	return nil
}

func runSwitchFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("switch fleet", stderr)
	var rf switchFlags
	rf.register(fs)
	pkiDir := fs.String("pki", "", "`directory` laid out by 'regcenter pki init': device certificates (issued if missing) and the center's CA")
	count := fs.Int("count", 0, "how many switches")
	concurrency := fs.Int("concurrency", 0, "how many switches onboard at once (0: all)")
	prefix := fs.String("esn-prefix", fleet.DefaultESNPrefix, "ESN prefix: the switches are PREFIX0000, PREFIX0001, ...")
	stateDir := fs.String("state", "", "`directory` of the switches' state directories (default: a temporary one, removed at the end)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up on the switches not registered by then")
	until := fs.String("until", string(agent.PhaseRegistered), "phase every switch must reach: registered, or online (one heartbeat answered)")
	logLevel := fs.String("log-level", "error", "the switches' log level (to stderr): debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *pkiDir == "" || *count < 1 {
		return usageError("switch fleet: --pki and a positive --count are required")
	}
	if *until != string(agent.PhaseRegistered) && *until != string(agent.PhaseOnline) {
		return usageError("--until must be registered or online")
	}
	policy, err := rf.resolve()
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, "text", *logLevel)
	if err != nil {
		return err
	}
	if *stateDir == "" {
		tmp, err := os.MkdirTemp("", "regcenter-fleet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*stateDir = tmp
	}
	sum, err := fleet.Run(ctx, fleet.Config{
		PKI: pki.Dir(*pkiDir), Count: *count, ESNPrefix: *prefix, CenterURL: rf.center, StateDir: *stateDir,
		Concurrency: *concurrency, Until: agent.Phase(*until), Timeout: *timeout,
		DeviceType: rf.deviceType, SoftwareVersion: rf.softwareVersion,
		Retry: policy, MaxRetryAfter: rf.maxRetryAfter, RequestTimeout: rf.requestTimeout,
		Logger: log, Progress: stdout, Terminal: isTerminal(stdout),
	})
	if sum.Count == 0 {
		return err // nothing ran: a setup error
	}
	if werr := sum.WriteText(stdout); werr != nil {
		return werr
	}
	if err == nil && !sum.AllRegistered() {
		err = fmt.Errorf("fleet: %d of %d switches registered", sum.Registered, sum.Count)
	}
	return err
}

// isTerminal says whether w is a terminal, where a progress line can be
// rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
