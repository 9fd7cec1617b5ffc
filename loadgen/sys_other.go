//go:build !linux

package loadgen

import (
	"errors"
	"os/exec"
	"runtime"
)

// errNoAffinity: sched_setaffinity is Linux's.
var errNoAffinity = errors.New("pinning to CPUs needs Linux")

// AllowedCPUs returns the number of CPUs the process may use.
func AllowedCPUs() int { return runtime.NumCPU() }

// PinSelf is not supported here.
func PinSelf(cpus []int) error { return errNoAffinity }

// StartPinned is not supported here.
func StartPinned(cmd *exec.Cmd, cpus []int) error { return errNoAffinity }

// RaiseFileLimit does nothing here; opening files fails when the limit is
// too low.
func RaiseFileLimit(n uint64) error { return nil }
