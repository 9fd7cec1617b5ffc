package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/agent/fleet"
	"github.com/regcenter/regcenter/cmp/cmpwire"
	"github.com/regcenter/regcenter/pki"
)

func TestFleetOf200Onboards(t *testing.T) {
	const count = 200
	w := newWorld(t)
	esns, err := pki.FleetESNs("FLEET", count)
	if err != nil {
		t.Fatal(err)
	}
	w.importESNs(t, esns...)

	sum, err := fleet.Run(context.Background(), fleet.Config{
		PKI: w.dir, Count: count, ESNPrefix: "FLEET", CenterURL: w.center.URL, StateDir: t.TempDir(),
		Retry: fast, MaxRetryAfter: 200 * time.Millisecond, Timeout: 3 * time.Minute,
	})
	if err != nil || !sum.AllRegistered() {
		t.Fatalf("fleet: %d of %d registered: %v", sum.Registered, count, err)
	}
	if sum.Restarts != count || sum.Modes[regcenter.ModeCloud] != count {
		t.Errorf("restarts %d, cloud mode %d; want %d each", sum.Restarts, sum.Modes[regcenter.ModeCloud], count)
	}
	if sum.P50 <= 0 || sum.P50 > sum.P99 || sum.P99 > sum.Max {
		t.Errorf("time to onboard p50 %v p99 %v max %v", sum.P50, sum.P99, sum.Max)
	}
	devs, err := w.admin.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The fleet stopped its switches once all had registered, so the
	// platform may already show some offline: registered all the same.
	registered := 0
	for _, d := range devs {
		if d.RegisteredAt != nil && d.State != cmpwire.StateClaimed {
			registered++
		}
	}
	if registered != count {
		t.Errorf("the platform shows %d of %d registered", registered, count)
	}
}
