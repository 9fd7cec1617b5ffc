//go:build !linux

package mtls_test

import "time"

func threadCPU() (time.Duration, bool) { return 0, false }
