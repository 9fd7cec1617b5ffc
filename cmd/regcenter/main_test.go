package main

import (
	"os"
	"os/exec"
	"testing"
)

// asCommandEnv makes the test binary stand in for the regcenter command.
const asCommandEnv = "REGCENTER_TEST_AS_COMMAND"

// TestMain runs main instead of the tests when asCommandEnv is set: the
// tests that need real processes (a switch that executes itself again,
// the load generator's child servers, a replica killed with SIGKILL)
// start this binary that way, with the command line of regcenter.
func TestMain(m *testing.M) {
	if os.Getenv(asCommandEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// regcenterCommand is this test binary run as `regcenter args...`.
func regcenterCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCommandEnv+"=1")
	return cmd
}
