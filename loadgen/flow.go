package loadgen

import (
	"context"
	"errors"
)

// Onboard takes simulated switch i through the whole flow of the fleet
// simulator (both questions to the center, registration at its platform)
// and returns once it is onboarded. The fleet simulator of package agent
// provides it; the flow scenario only drives and times it.
type Onboard func(ctx context.Context, i int) error

// FlowConfig is a fleet onboarding: Load.Requests switches (or as many as
// Load.Duration allows), Load.Concurrency at once.
type FlowConfig struct {
	Load
	Onboard Onboard
}

// Flow runs the flow scenario; the latencies are times to onboard.
func Flow(ctx context.Context, t Target, cfg FlowConfig) (Result, error) {
	res := Result{Scenario: "flow", Target: t.Name, Unit: "switch"}
	if cfg.Onboard == nil {
		return res, errors.New("loadgen: flow: no fleet simulator to run the switches")
	}
	if err := errors.Join(t.check(), cfg.Load.check()); err != nil {
		return res, err
	}
	err := measure(t, &res, func() {
		cfg.Load.run(ctx, func(ctx context.Context, _, i int) error { return cfg.Onboard(ctx, i) }).into(&res)
	})
	return res, err
}
