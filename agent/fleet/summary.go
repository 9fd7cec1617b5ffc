package fleet

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent"
)

// Switch is one simulated switch as the fleet last saw it.
type Switch struct {
	ESN      string
	StateDir string
	Phase    agent.Phase // "" before its first boot
	Mode     regcenter.Mode
	Reached  bool          // it reached the fleet's Until phase
	Onboard  time.Duration // from its first boot to its first registration; 0 if it never registered
	Retries  int           // over all its boots
	Restarts int
	LastErr  error // why its last failed attempt failed
	Stopped  error // why its agent stopped for good (a corrupt state, say), nil while it ran
}

// Registered says whether the switch registered with its platform.
func (s Switch) Registered() bool { return s.Onboard > 0 }

// Summary is the state of a fleet.
type Summary struct {
	Count   int
	Elapsed time.Duration
	// Phases counts the switches by their current phase ("" for those not
	// booted yet), Modes by their mode.
	Phases map[agent.Phase]int
	Modes  map[regcenter.Mode]int
	// Reached counts the switches that reached the fleet's Until phase,
	// Registered those that registered, Stopped those whose agent stopped
	// on an error.
	Reached, Registered, Stopped int
	// Time to onboard (first boot to registration) of the registered
	// switches: nearest-rank percentiles.
	P50, P99, Max     time.Duration
	Retries, Restarts int
	Switches          []Switch // in ESN order
}

// AllRegistered says whether every switch of the fleet registered.
func (s Summary) AllRegistered() bool { return s.Count > 0 && s.Registered == s.Count }

func summarize(switches []Switch, elapsed time.Duration) Summary {
	s := Summary{
		Count: len(switches), Elapsed: elapsed, Switches: slices.Clone(switches),
		Phases: make(map[agent.Phase]int), Modes: make(map[regcenter.Mode]int),
	}
	var onboard []time.Duration
	for _, sw := range switches {
		s.Phases[sw.Phase]++
		if sw.Mode != "" {
			s.Modes[sw.Mode]++
		}
		if sw.Reached {
			s.Reached++
		}
		if sw.Registered() {
			s.Registered++
			onboard = append(onboard, sw.Onboard)
		}
		if sw.Stopped != nil {
			s.Stopped++
		}
		s.Retries += sw.Retries
		s.Restarts += sw.Restarts
	}
	if len(onboard) > 0 {
		slices.Sort(onboard)
		rank := func(q float64) time.Duration { return onboard[int(math.Ceil(q*float64(len(onboard))))-1] }
		s.P50, s.P99, s.Max = rank(0.50), rank(0.99), onboard[len(onboard)-1]
	}
	return s
}

// phaseCounts is "waiting_claim 3, online 17": the non-empty phases in
// onboarding order.
func (s Summary) phaseCounts() string {
	var parts []string
	if n := s.Phases[""]; n > 0 {
		parts = append(parts, fmt.Sprintf("not booted %d", n))
	}
	for _, p := range agent.Phases() {
		if n := s.Phases[p]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p, n))
		}
	}
	return strings.Join(parts, ", ")
}

// Line is the one-line progress report.
func (s Summary) Line() string {
	return fmt.Sprintf("fleet %5.1fs: %d/%d registered | %s | retries %d, restarts %d",
		s.Elapsed.Seconds(), s.Registered, s.Count, s.phaseCounts(), s.Retries, s.Restarts)
}

// maxListed bounds the switches the summary names for not registering.
const maxListed = 5

// WriteText writes the summary for people.
func (s Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "fleet: %d of %d switches registered in %.1fs\n", s.Registered, s.Count, s.Elapsed.Seconds())
	fmt.Fprintf(&b, "  by state: %s\n", s.phaseCounts())
	var modes []string
	for _, m := range []regcenter.Mode{regcenter.ModeTraditional, regcenter.ModeCloud} {
		if n := s.Modes[m]; n > 0 {
			modes = append(modes, fmt.Sprintf("%s %d", m, n))
		}
	}
	fmt.Fprintf(&b, "  by mode: %s\n", strings.Join(modes, ", "))
	if s.Registered > 0 {
		fmt.Fprintf(&b, "  time to onboard: p50 %v, p99 %v, max %v\n", round(s.P50), round(s.P99), round(s.Max))
	}
	fmt.Fprintf(&b, "  retries: %d, restarts: %d\n", s.Retries, s.Restarts)
	var unfinished []Switch
	for _, sw := range s.Switches {
		if !sw.Registered() || sw.Stopped != nil {
			unfinished = append(unfinished, sw)
		}
	}
	for i, sw := range unfinished {
		if i == maxListed {
			fmt.Fprintf(&b, "  ... and %d more\n", len(unfinished)-maxListed)
			break
		}
		why := sw.Stopped
		if why == nil {
			why = sw.LastErr
		}
		fmt.Fprintf(&b, "  %s: %s", sw.ESN, sw.Phase)
		if why != nil {
			fmt.Fprintf(&b, ": %v", why)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// round keeps durations readable: milliseconds below a minute.
func round(d time.Duration) time.Duration {
	return d.Round(time.Millisecond)
}
