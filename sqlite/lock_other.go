//go:build !unix

package sqlite

import "os"

// lockFile only creates name where flock(2) does not exist: there the
// operator must make sure that one process owns a store.
func lockFile(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
}
