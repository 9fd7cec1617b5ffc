package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// TestDemo runs the newcomer's first command at a small size and checks
// that it tells the five steps with the right counts and succeeds.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"demo", "--switches", "6"}, os.Getenv, &out, io.Discard); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"1. The administrator imports 3 of the 6 switches",
		"the center now holds 3 claims",
		"3 are not claimed yet: the center answers not_claimed",
		"The administrator imports the other 3.",
		"4. The center answers each switch with the platform's address and trust anchor: 6 switches",
		"(6 restarts)",
		"the platform shows 6 of 6 online",
		"Onboarded 6 of 6 switches",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "  online\n"); n != 6 {
		t.Errorf("the table shows %d switches online on the platform, want 6:\n%s", n, out.String())
	}
}

func TestDemoRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"demo", "--switches", "1"}, {"demo", "--switches", "x"}, {"demo", "extra"}} {
		if err := run(context.Background(), args, os.Getenv, io.Discard, io.Discard); exitCode(err) != 2 {
			t.Errorf("run(%q) = %v; want a usage error", args, err)
		}
	}
}
