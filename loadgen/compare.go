package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Comparison holds the runs of one scenario against the center and
// against the baseline, in the order they ran.
type Comparison struct {
	Scenario         string
	Center, Baseline []Result
}

// figure is one row of the comparison table.
type figure struct {
	name  string
	value func(Result) float64
	show  func(float64) string
	// target is the goal of issue 5 for this figure, and meets tells
	// whether the medians reach it; both empty when there is none.
	target string
	meets  func(center, baseline float64) bool
}

func ratioAtMost(limit float64) func(c, b float64) bool {
	return func(c, b float64) bool { return b > 0 && c/b <= limit }
}

func ratioAtLeast(limit float64) func(c, b float64) bool {
	return func(c, b float64) bool { return b > 0 && c/b >= limit }
}

func showRate(f float64) string { return num(f) + "/s" }
func showDur(f float64) string  { return dur(time.Duration(f)) }
func showKiB(f float64) string  { return kib(f) }
func showMiB(f float64) string  { return mib(int64(f)) }
func showNum(f float64) string  { return num(f) }

func figures(scenario string) []figure {
	cpu := func(r Result) float64 { return float64(r.ServerCPUPerOp()) }
	p50 := func(r Result) float64 { return float64(r.Latency.P50) }
	p99 := func(r Result) float64 { return float64(r.Latency.P99) }
	switch scenario {
	case "cold":
		return []figure{
			{"server CPU per request", cpu, showDur, "≤ 1.05×", ratioAtMost(1.05)},
			{"requests/s", Result.Throughput, showRate, "≥ 0.95×", ratioAtLeast(0.95)},
			{"latency p50", p50, showDur, "", nil},
			{"latency p99", p99, showDur, "", nil},
		}
	case "warm":
		return []figure{
			{"server CPU per request", cpu, showDur, "", nil},
			{"requests/s", Result.Throughput, showRate, "≥ 0.7×", ratioAtLeast(0.7)},
			{"latency p50", p50, showDur, "", nil},
			{"latency p99", p99, showDur, "", nil},
		}
	case "upload":
		return []figure{
			{"server CPU per device", func(r Result) float64 { return float64(r.ServerCPUPerItem()) }, showDur, "", nil},
			{"devices/s", Result.ItemThroughput, showRate, "≥ 50,000/s", func(c, _ float64) bool { return c >= 50_000 }},
			{"batch latency p50", p50, showDur, "", nil},
			{"batch latency p99", p99, showDur, "", nil},
			{"server RSS growth (peak)", func(r Result) float64 { return float64(r.ServerRSSPeak - r.ServerRSSBefore) }, showMiB, "", nil},
		}
	case "idle":
		return []figure{
			{"memory per connection", Result.MemoryPerConn, showKiB, "≤ 1.2×", ratioAtMost(1.2)},
			{"connections held", func(r Result) float64 { return float64(r.OK) }, showNum, "", nil},
			{"server CPU per connection", cpu, showDur, "", nil},
		}
	default: // flow
		return []figure{
			{"switches onboarded/s", Result.Throughput, showRate, "", nil},
			{"time to onboard p50", p50, showDur, "", nil},
			{"time to onboard p99", p99, showDur, "", nil},
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cell shows the median of the runs, with their range when there are
// several: a wide range says the machine was not quiet.
func cell(rs []Result, f figure) (string, float64) {
	if len(rs) == 0 {
		return "–", 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f.value(r)
	}
	m := median(v)
	if len(v) == 1 {
		return f.show(m), m
	}
	return fmt.Sprintf("%s (%s–%s)", f.show(m), f.show(slices.Min(v)), f.show(slices.Max(v))), m
}

// WriteComparison prints the comparison as a markdown table: for each
// figure the median of the center's runs, of the baseline's, their ratio
// and the target, then notes on errors and on load-bound runs.
func WriteComparison(w io.Writer, cs []Comparison) {
	fmt.Fprintln(w, "| scenario | figure | center | baseline | center/baseline | target |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, c := range cs {
		for _, f := range figures(c.Scenario) {
			cv, cm := cell(c.Center, f)
			bv, bm := cell(c.Baseline, f)
			ratio := "–"
			if bm != 0 && len(c.Center) > 0 {
				ratio = fmt.Sprintf("%.2f", cm/bm)
			}
			target := f.target
			if f.meets != nil && len(c.Center) > 0 {
				if f.meets(cm, bm) {
					target += " met"
				} else {
					target += " **missed**"
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", c.Scenario, f.name, cv, bv, ratio, target)
		}
	}
	var notes []string
	for _, c := range cs {
		for _, side := range []struct {
			name string
			rs   []Result
		}{{"center", c.Center}, {"baseline", c.Baseline}} {
			bound, errs := 0, map[string]int{}
			for _, r := range side.rs {
				if r.LoadBound() {
					bound++
				}
				for k, n := range r.Errors {
					errs[k] += n
				}
			}
			if bound > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: %d of %d runs load-bound (the load generator used more than %.0f%% of its CPUs): those figures are the load generator's limit, not the server's",
					c.Scenario, side.name, bound, len(side.rs), 100*SaturationThreshold))
			}
			if len(errs) > 0 {
				notes = append(notes, fmt.Sprintf("%s, %s: errors: %s", c.Scenario, side.name, errorList(errs)))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

func errorList(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d × %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}
