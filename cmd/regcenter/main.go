// Command regcenter is the device registration query center and the tools
// around it: its development PKI, and (later) the reference platform, the
// switch agent and the load generator.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "regcenter:", err)
		os.Exit(exitCode(err))
	}
}
