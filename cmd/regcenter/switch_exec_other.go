//go:build !unix

package main

import "errors"

// execSelf cannot replace the process image here; the fleet's in-process
// restart is the way to run switches on this system.
func execSelf() error {
	return errors.New("switch: restarting by re-execution needs a Unix system; use 'regcenter switch fleet'")
}
