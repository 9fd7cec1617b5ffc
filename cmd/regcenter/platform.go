package main

import (
	"context"
	"errors"
	"io"
)

// runPlatform is being written (issue 3).
func runPlatform(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("platform: not built yet")
}
