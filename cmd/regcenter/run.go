package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

const usage = `usage: regcenter COMMAND [flags]

commands:
  serve                     run the registration query center
  pki init                  create a development PKI (three CAs, the center's certificate)
  pki issue platform        issue a platform's client certificate
  pki issue device          issue device certificates (IDevID stand-ins)
  pki issue platform-server issue a platform's server certificate (what switches verify)
  platform serve            run the reference cloud management platform
  platform import           import devices into a platform from a CSV file
  switch run                run one switch agent
  switch reset              factory-reset a switch's state
  switch fleet              run a fleet of simulated switches
  demo                      the whole onboarding flow on loopback, in a temporary directory
  loadgen                   load scenarios, the baseline server, and the center/baseline comparison

Run 'regcenter COMMAND -h' for a command's flags.
`

// errUsage marks an error in the command line (exit status 2).
var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError("no command")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "pki":
		return runPKI(ctx, args[1:], stdout, stderr)
	case "platform":
		return runPlatform(ctx, args[1:], getenv, stdout, stderr)
	case "switch":
		return runSwitch(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "loadgen":
		return runLoadgen(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError("unknown command %q", args[0])
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("regcenter "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and refuses stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError("%v", err)
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
