//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on name (created if missing), held until
// the returned file is closed, so that a second center on the same store
// fails at start instead of answering from a cache that the first one's
// writes would make stale.
func lockFile(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is held by another open store: a SQLite store has one owner (several replicas need PostgreSQL)", name)
		}
		return nil, fmt.Errorf("locking %s: %w", name, err)
	}
	return f, nil
}
