package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/pki"
)

const pkiUsage = `usage:
  regcenter pki init --dir DIR [--hosts localhost,127.0.0.1,::1]
  regcenter pki issue platform --dir DIR --id ID
  regcenter pki issue platform-server --dir DIR --id ID [--hosts localhost,127.0.0.1,::1]
  regcenter pki issue device --dir DIR --esn ESN
  regcenter pki issue device --dir DIR --count N --esn-prefix PREFIX

init creates the center, platform and device CAs and the center's server
certificate; it never overwrites an existing PKI. issue platform-server
issues the certificate a platform presents to switches, signed by the
platform CA (the platform's trust anchor). issue device with --count
issues PREFIX0000 ... and skips devices that already have a certificate.
`

func runPKI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 1 && args[0] == "init":
		return runPKIInit(args[1:], stdout, stderr)
	case len(args) >= 2 && args[0] == "issue" && args[1] == "platform":
		return runPKIIssuePlatform(args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "issue" && args[1] == "platform-server":
		return runPKIIssuePlatformServer(args[2:], stdout, stderr)
	case len(args) >= 2 && args[0] == "issue" && args[1] == "device":
		return runPKIIssueDevice(ctx, args[2:], stdout, stderr)
	case len(args) >= 1 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help"):
		fmt.Fprint(stdout, pkiUsage)
		return nil
	}
	fmt.Fprint(stderr, pkiUsage)
	if len(args) == 0 {
		return usageError("pki: no subcommand")
	}
	return usageError("pki: unknown subcommand %q", strings.Join(args[:min(len(args), 2)], " "))
}

func runPKIInit(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("pki init", stderr)
	dir := flags.String("dir", "", "directory of the PKI (created; must not hold one)")
	hosts := flags.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names and IP addresses of the center")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError("pki init: --dir is required")
	}
	hostList := splitList(*hosts)
	if len(hostList) == 0 {
		return usageError("pki init: --hosts names no host")
	}
	d := pki.Dir(*dir)
	if err := pki.Init(d, hostList, time.Now()); err != nil {
		return flagError("pki init", "--hosts", err)
	}
	printWrote(stdout,
		d.CenterCACert(), d.CenterCAKey(), d.PlatformCACert(), d.PlatformCAKey(),
		d.DeviceCACert(), d.DeviceCAKey(), d.ServerCert(), d.ServerKey())
	return nil
}

func runPKIIssuePlatform(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("pki issue platform", stderr)
	dir := flags.String("dir", "", "directory of the PKI (made by pki init)")
	id := flags.String("id", "", "the platform's ID (its certificate's CN)")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *dir == "" || *id == "" {
		return usageError("pki issue platform: --dir and --id are required")
	}
	d := pki.Dir(*dir)
	if err := pki.IssuePlatform(d, *id, time.Now()); err != nil {
		return flagError("pki issue platform", "--id", err)
	}
	printWrote(stdout, d.PlatformCert(*id), d.PlatformKey(*id))
	return nil
}

func runPKIIssuePlatformServer(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("pki issue platform-server", stderr)
	dir := flags.String("dir", "", "directory of the PKI (made by pki init)")
	id := flags.String("id", "", "the platform's ID")
	hosts := flags.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names and IP addresses switches reach the platform at")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	if *dir == "" || *id == "" {
		return usageError("pki issue platform-server: --dir and --id are required")
	}
	hostList := splitList(*hosts)
	if len(hostList) == 0 {
		return usageError("pki issue platform-server: --hosts names no host")
	}
	d := pki.Dir(*dir)
	if err := pki.IssuePlatformServer(d, *id, hostList, time.Now()); err != nil {
		return flagError("pki issue platform-server", "--id/--hosts", err)
	}
	printWrote(stdout, d.PlatformServerCert(*id), d.PlatformServerKey(*id))
	return nil
}

// splitList reads a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

func runPKIIssueDevice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("pki issue device", stderr)
	dir := flags.String("dir", "", "directory of the PKI (made by pki init)")
	esn := flags.String("esn", "", "the ESN of one device")
	count := flags.Int("count", 0, "issue a fleet of this many devices (with --esn-prefix)")
	prefix := flags.String("esn-prefix", "", "ESN prefix of the fleet; the index follows, zero-padded")
	if err := parseFlags(flags, args); err != nil {
		return err
	}
	set := setFlags(flags)
	if *dir == "" {
		return usageError("pki issue device: --dir is required")
	}
	single, fleet := set["esn"], set["count"] || set["esn-prefix"]
	switch {
	case single == fleet:
		return usageError("pki issue device: give either --esn or --count with --esn-prefix")
	case fleet && !(set["count"] && set["esn-prefix"]):
		return usageError("pki issue device: --count and --esn-prefix go together")
	}
	d := pki.Dir(*dir)

	if single {
		if err := pki.IssueDevice(d, *esn, time.Now()); err != nil {
			return flagError("pki issue device", "--esn", err)
		}
		printWrote(stdout, d.DeviceCert(*esn), d.DeviceKey(*esn))
		return nil
	}
	// Validated first, so that a bad prefix is a usage error, not a
	// failure after the CA was read.
	if _, err := pki.FleetESNs(*prefix, *count); err != nil {
		return flagError("pki issue device", "--count/--esn-prefix", err)
	}
	issued, err := pki.IssueDevices(ctx, d, *prefix, *count, time.Now())
	for _, e := range issued {
		printWrote(stdout, d.DeviceCert(e), d.DeviceKey(e))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "issued %d device certificates; %d already existed\n", len(issued), *count-len(issued))
	return nil
}

// flagError turns the pki package's invalid-argument errors into usage
// errors naming the flag; anything else (a missing CA, an existing file)
// stays an ordinary failure.
func flagError(cmd, flagName string, err error) error {
	if e, ok := regcenter.AsError(err); ok && errors.Is(err, regcenter.ErrInvalid) {
		return usageError("%s: %s: %s", cmd, flagName, e.Detail)
	}
	return err
}

func setFlags(flags *flag.FlagSet) map[string]bool {
	set := make(map[string]bool)
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func printWrote(w io.Writer, paths ...string) {
	for _, p := range paths {
		fmt.Fprintln(w, "wrote", p)
	}
}
