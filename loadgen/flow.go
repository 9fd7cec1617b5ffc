package loadgen

import (
	"context"
	"errors"
	"time"
)

// Onboarded is what a fleet run reports of one switch: how long it took
// from its first boot to its registration at its platform, or why it did
// not get there.
type Onboarded struct {
	Took time.Duration
	Err  error // nil when the switch onboarded
}

// errNotOnboarded stands for a switch that a fleet run reports neither as
// onboarded nor with a cause.
var errNotOnboarded = errors.New("not onboarded")

// FlowConfig is a fleet onboarding. Run boots the whole fleet (the fleet
// simulator, agent/fleet.Run, with its own concurrency), waits for it, and
// reports every switch; its error is about the fleet as a whole.
type FlowConfig struct {
	Run func(ctx context.Context) ([]Onboarded, error)
}

// Flow runs the flow scenario: one operation per switch, its latency the
// time to onboard, the window the whole fleet's run.
func Flow(ctx context.Context, t Target, cfg FlowConfig) (Result, error) {
	res := Result{Scenario: "flow", Target: t.Name, Unit: "switch"}
	if cfg.Run == nil {
		return res, errors.New("loadgen: flow: no fleet simulator to run the switches")
	}
	if err := t.check(); err != nil {
		return res, err
	}
	var runErr error
	err := measure(t, &res, func() {
		var switches []Onboarded
		switches, runErr = cfg.Run(ctx)
		var tl tally
		for _, s := range switches {
			tl.ops++
			switch {
			case s.Err != nil:
				tl.fail(s.Err)
			case s.Took <= 0:
				tl.fail(errNotOnboarded)
			default:
				tl.ok++
				tl.latencies = append(tl.latencies, s.Took)
			}
		}
		tl.into(&res)
	})
	return res, errors.Join(err, runErr)
}
