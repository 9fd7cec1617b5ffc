package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/regcenter/regcenter/backoff"
)

func TestDelayGrowsWithinBoundsAndHonoursRetryAfter(t *testing.T) {
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	for attempt, bound := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		bound *= time.Millisecond
		for range 200 {
			d := p.Delay(attempt, 0)
			if d < bound/2 || d > bound {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, bound/2, bound)
			}
		}
	}
	if d := p.Delay(0, 5*time.Second); d != 5*time.Second {
		t.Errorf("Retry-After 5s gave %v", d)
	}
	if d := p.Delay(1000, 0); d > time.Second {
		t.Errorf("attempt 1000 gave %v, over Max", d)
	}
}

func TestDelayIsJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[backoff.Default().Delay(3, 0)] = true
	}
	if len(seen) < 10 {
		t.Errorf("50 delays took only %d distinct values", len(seen))
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep on a cancelled context = %v", err)
	}
	if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
}
