package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
	"github.com/regcenter/regcenter/agent/fleet"
	"github.com/regcenter/regcenter/backoff"
	"github.com/regcenter/regcenter/center"
	"github.com/regcenter/regcenter/cmp/cmpclient"
	"github.com/regcenter/regcenter/cmp/cmpserver"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/mtls"
	"github.com/regcenter/regcenter/pki"
	"github.com/regcenter/regcenter/sqlite"
)

const demoPlatform = "demo-platform"

// demoTimings make the demo's retries short. They are the same settings an
// operator has (flags of serve, platform serve and switch fleet), only
// smaller: the demo runs the production code paths, nothing special.
type demoTimings struct {
	notClaimedRetryAfter time.Duration // the center's answer to an unclaimed switch
	flushInterval        time.Duration // the center's bootstrap statistics and events
	eventPoll            time.Duration
	heartbeat            time.Duration // the platform tells switches
	platformRetry        backoff.Policy
	switchRetry          backoff.Policy
}

func defaultDemoTimings() demoTimings {
	return demoTimings{
		notClaimedRetryAfter: time.Second,
		flushInterval:        100 * time.Millisecond,
		eventPoll:            100 * time.Millisecond,
		heartbeat:            time.Second,
		platformRetry:        backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second},
		switchRetry:          backoff.Policy{Initial: 200 * time.Millisecond, Max: time.Second},
	}
}

func runDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	switches := fs.Int("switches", 20, "how many simulated switches")
	keep := fs.Bool("keep", false, "keep the temporary directory (PKI, databases, switch states) and print where it is")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up when the switches have not all registered by then")
	logLevel := fs.String("log-level", "error", "log level of the parties (logs go to stderr): debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *switches < 2 || *switches > 10_000 {
		return usageError("--switches must be 2 to 10000")
	}
	log, err := newLogger(stderr, "text", *logLevel)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "regcenter-demo-")
	if err != nil {
		return err
	}
	if *keep {
		defer fmt.Fprintf(stdout, "\nEverything is kept in %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	d := &demo{dir: dir, count: *switches, out: stdout, log: log, timings: defaultDemoTimings()}
	return d.run(ctx)
}

// demo is one run of the whole onboarding flow.
type demo struct {
	dir     string
	count   int
	out     io.Writer
	log     *slog.Logger
	timings demoTimings

	mu          sync.Mutex
	waitedClaim map[string]bool // switches the center told "not claimed" at least once
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	start := time.Now()
	pkiDir := pki.Dir(filepath.Join(d.dir, "pki"))
	hosts := []string{"localhost", "127.0.0.1"}
	now := time.Now()
	if err := pki.Init(pkiDir, hosts, now); err != nil {
		return err
	}
	if err := pki.IssuePlatform(pkiDir, demoPlatform, now); err != nil {
		return err
	}
	if err := pki.IssuePlatformServer(pkiDir, demoPlatform, hosts, now); err != nil {
		return err
	}
	esns, err := pki.FleetESNs(fleet.DefaultESNPrefix, d.count)
	if err != nil {
		return err
	}
	d.say("regcenter demo: %d switches, one registration query center, one cloud management platform,", d.count)
	d.say("all on loopback, every leg HTTP/2 with mutual TLS (a fresh PKI in %s).\n", d.dir)

	c, stopCenter, err := d.startCenter(ctx, pkiDir)
	if err != nil {
		return err
	}
	defer stopCenter()
	centerURL := "https://" + c.APIAddr

	p, admin, err := d.startPlatform(ctx, pkiDir, centerURL)
	if err != nil {
		return err
	}
	defer d.shutdown(p.Shutdown)

	first, second := esns[:d.count/2], esns[d.count/2:]
	d.say("1. The administrator imports %d of the %d switches into the platform %q.", len(first), d.count, demoPlatform)
	if err := d.importDevices(ctx, admin, first); err != nil {
		return err
	}
	claimed, err := d.waitClaimed(ctx, admin, first)
	if err != nil {
		return err
	}
	d.say("2. The platform publishes its address (%s) to the center over one HTTP/2 connection", p.DeviceAddr)
	d.say("   and uploads the new ESNs: the center now holds %d claims.", claimed)

	d.waitedClaim = make(map[string]bool)
	d.say("3. %d switches boot with no configuration and ask the center (%s) by their ESN.", d.count, centerURL)
	f, err := fleet.Start(ctx, fleet.Config{
		PKI: pkiDir, Count: d.count, CenterURL: centerURL, StateDir: filepath.Join(d.dir, "switches"),
		Until: agent.PhaseOnline, Retry: d.timings.switchRetry, MaxRetryAfter: d.timings.notClaimedRetryAfter,
		Logger: d.log, OnProgress: d.observe,
	})
	if err != nil {
		return err
	}
	if err := d.waitUntil(ctx, func() bool { return d.waitedFor(second) }); err != nil {
		f.Wait()
		return fmt.Errorf("the unclaimed switches never asked the center: %w", err)
	}
	d.say("   %d are not claimed yet: the center answers not_claimed with Retry-After, and they keep asking.", len(second))
	d.say("   The administrator imports the other %d.", len(second))
	if err := d.importDevices(ctx, admin, second); err != nil {
		f.Wait()
		return err
	}

	summary, fleetErr := f.Wait()
	d.say("4. The center answers each switch with the platform's address and trust anchor: %d switches", summary.Modes[regcenter.ModeCloud])
	d.say("   changed to cloud-managed mode and restarted (%d restarts), reading their state back from disk.", summary.Restarts)
	// The platform learns of the switches' questions from the center's
	// events stream; wait until it has seen both questions of each switch.
	var devices []cmpwire.AdminDevice
	err = d.waitUntil(ctx, func() bool {
		devices, err = admin.Devices(ctx)
		return err == nil && len(devices) == d.count && !slices.ContainsFunc(devices, func(dev cmpwire.AdminDevice) bool { return dev.CenterQueries < 2 })
	})
	if err != nil {
		return fmt.Errorf("the platform did not see every switch's questions to the center: %w", err)
	}
	online := 0
	for _, dev := range devices {
		if dev.State == cmpwire.StateOnline {
			online++
		}
	}
	d.say("5. After the restart each asked the center again, then registered with the platform,")
	d.say("   verifying it against that trust anchor: the platform shows %d of %d online.\n", online, d.count)

	d.table(summary, devices)
	d.say("\nOnboarded %d of %d switches in %.1fs (time to onboard p50 %v, p99 %v, max %v; %d retries).",
		summary.Registered, d.count, time.Since(start).Seconds(), summary.P50.Round(time.Millisecond),
		summary.P99.Round(time.Millisecond), summary.Max.Round(time.Millisecond), summary.Retries)
	if fleetErr != nil || !summary.AllRegistered() {
		summary.WriteText(d.out)
		return fmt.Errorf("demo: %d of %d switches registered: %v", summary.Registered, d.count, fleetErr)
	}
	return nil
}

func (d *demo) startCenter(ctx context.Context, dir pki.Dir) (*center.Center, func(), error) {
	authority, cert, err := loadServerTLS(tlsFileSet{cert: dir.ServerCert(), key: dir.ServerKey(), platformCA: dir.PlatformCACert(), deviceCA: dir.DeviceCACert()})
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlite.Open(ctx, filepath.Join(d.dir, "center.db"))
	if err != nil {
		return nil, nil, err
	}
	c, err := center.Start(center.Config{
		Listen: "127.0.0.1:0", OpsListen: "127.0.0.1:0",
		Store: store, TLS: authority.ServerConfig(mtls.ServerOptions{Certificate: cert, VerifyOnce: true}), Identify: authority.Identify,
		NotClaimedRetryAfter: d.timings.notClaimedRetryAfter, FlushInterval: d.timings.flushInterval,
		EventPoll: d.timings.eventPoll, Logger: d.log,
	})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return c, func() { d.shutdown(c.Shutdown); store.Close() }, nil
}

func (d *demo) startPlatform(ctx context.Context, dir pki.Dir, centerURL string) (*cmpserver.Platform, *cmpclient.Admin, error) {
	cfg := cmpserver.Config{
		CenterURL: centerURL, DataDir: filepath.Join(d.dir, "platform"),
		HeartbeatInterval: d.timings.heartbeat, Retry: d.timings.platformRetry, Logger: d.log,
	}
	if err := cmpserver.PKIFiles(dir, demoPlatform).Load(&cfg); err != nil {
		return nil, nil, err
	}
	p, err := cmpserver.Start(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	admin, err := cmpclient.NewAdmin(p.AdminURL)
	if err != nil {
		d.shutdown(p.Shutdown)
		return nil, nil, err
	}
	return p, admin, nil
}

// importDevices imports through the admin API as a CSV file, as an
// administrator would.
func (d *demo) importDevices(ctx context.Context, admin *cmpclient.Admin, esns []string) error {
	var csv strings.Builder
	csv.WriteString("esn,device_type\n")
	for _, esn := range esns {
		csv.WriteString(esn + ",S5735-L24T4S-A\n")
	}
	_, err := admin.ImportCSV(ctx, strings.NewReader(csv.String()))
	return err
}

// waitClaimed waits until the platform reports every ESN claimed at the
// center, and returns how many it holds in all.
func (d *demo) waitClaimed(ctx context.Context, admin *cmpclient.Admin, esns []string) (int, error) {
	var claimed int
	err := d.waitUntil(ctx, func() bool {
		devices, err := admin.Devices(ctx)
		if err != nil {
			return false
		}
		claimed = 0
		for _, dev := range devices {
			if dev.State != cmpwire.StateImported && dev.State != cmpwire.StateConflict && dev.State != cmpwire.StateInvalid {
				claimed++
			}
		}
		return claimed >= len(esns)
	})
	return claimed, err
}

func (d *demo) observe(p agent.Progress) {
	if p.Phase != agent.PhaseWaitingClaim {
		return
	}
	d.mu.Lock()
	d.waitedClaim[p.ESN] = true
	d.mu.Unlock()
}

func (d *demo) waitedFor(esns []string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, esn := range esns {
		if !d.waitedClaim[esn] {
			return false
		}
	}
	return true
}

// waitUntil polls cond until it holds or ctx ends.
func (d *demo) waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		if err := backoff.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) shutdown(stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
		d.log.Warn("shutdown", "err", err)
	}
}

// table prints one line per switch: what each of the three parties knows.
func (d *demo) table(s fleet.Summary, devices []cmpwire.AdminDevice) {
	byESN := make(map[string]cmpwire.AdminDevice, len(devices))
	for _, dev := range devices {
		byESN[dev.ESN] = dev
	}
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SWITCH\tMODE\tSWITCH PHASE\tRETRIES\tRESTARTS\tONBOARD\tCENTER QUERIES\tPLATFORM STATE")
	switches := slices.Clone(s.Switches)
	slices.SortFunc(switches, func(a, b fleet.Switch) int { return strings.Compare(a.ESN, b.ESN) })
	for _, sw := range switches {
		dev := byESN[sw.ESN]
		onboard := "-"
		if sw.Registered() {
			onboard = sw.Onboard.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\n", sw.ESN, sw.Mode, sw.Phase, sw.Retries, sw.Restarts, onboard, dev.CenterQueries, dev.State)
	}
	tw.Flush()
}
