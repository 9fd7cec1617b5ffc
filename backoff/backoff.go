// Package backoff computes retry delays: capped exponential growth with
// full jitter, so that a thousand switches that failed together do not
// retry together. A server's Retry-After, when given, is a floor. It has
// no dependencies and no state beyond a Policy's attempt count.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy describes the delays. The zero value is not useful; see Default.
type Policy struct {
	Initial time.Duration // the first delay's upper bound
	Max     time.Duration // no delay exceeds this (but a Retry-After may)
	// Multiplier grows the bound after each failure (default 2).
	Multiplier float64
}

// Default is a policy for calls to a remote service: 1s growing to 1min.
func Default() Policy { return Policy{Initial: time.Second, Max: time.Minute, Multiplier: 2} }

// Delay returns the delay before retry number attempt (0 for the first
// retry): a random duration in [bound/2, bound] where the bound grows
// exponentially up to Max, and never less than retryAfter.
func (p Policy) Delay(attempt int, retryAfter time.Duration) time.Duration {
	mult := p.Multiplier
	if mult < 1 {
		mult = 2
	}
	bound := float64(p.Initial)
	for i := 0; i < attempt && bound < float64(p.Max); i++ {
		bound *= mult
	}
	if bound > float64(p.Max) {
		bound = float64(p.Max)
	}
	// Half fixed, half random: spread enough to break up a herd, never so
	// short that a retry comes almost at once.
	d := time.Duration(bound/2 + rand.Float64()*bound/2)
	if d < retryAfter {
		d = retryAfter
	}
	return d
}

// Sleep waits d or until ctx ends, and returns ctx's error in that case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
