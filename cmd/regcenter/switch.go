package main

import (
	"context"
	"errors"
	"io"
)

// runSwitch is being written (issue 3).
func runSwitch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return errors.New("switch: not built yet")
}
