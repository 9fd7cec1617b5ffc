//go:build unix

package main

import (
	"os"
	"syscall"
)

// execSelf restarts the switch for real: the process image is replaced by
// a fresh one, same arguments and environment, so that nothing but the
// state directory survives the restart.
func execSelf() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, os.Environ())
}
