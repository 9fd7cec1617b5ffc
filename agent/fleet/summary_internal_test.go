package fleet

import (
	"testing"
	"time"

	"github.com/regcenter/regcenter/agent"
)

// No platform runs in this package's tests, so the percentiles of time to
// onboard are checked on the summary itself: nearest rank, over the
// registered switches only.
func TestSummaryPercentiles(t *testing.T) {
	var switches []Switch
	for i := 1; i <= 200; i++ {
		switches = append(switches, Switch{Phase: agent.PhaseOnline, Onboard: time.Duration(i) * time.Millisecond})
	}
	switches = append(switches, Switch{Phase: agent.PhaseWaitingClaim}) // not registered: not counted
	s := summarize(switches, time.Second)
	if s.Registered != 200 || s.P50 != 100*time.Millisecond || s.P99 != 198*time.Millisecond || s.Max != 200*time.Millisecond {
		t.Errorf("registered %d, p50 %v, p99 %v, max %v; want 200, 100ms, 198ms, 200ms", s.Registered, s.P50, s.P99, s.Max)
	}
	one := summarize([]Switch{{Phase: agent.PhaseRegistered, Onboard: 7 * time.Millisecond}}, time.Second)
	if one.P50 != 7*time.Millisecond || one.P99 != 7*time.Millisecond || one.Max != 7*time.Millisecond || !one.AllRegistered() {
		t.Errorf("one switch: %+v", one)
	}
	if none := summarize(make([]Switch, 3), 0); none.P50 != 0 || none.Phases[""] != 3 || none.AllRegistered() {
		t.Errorf("no switch booted: %+v", none)
	}
}
