package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// WriteResult prints one run for a person.
func WriteResult(w io.Writer, r Result) {
	p := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-12s"+format+"\n", append([]any{label}, args...)...)
	}
	fmt.Fprintf(w, "%s against %s", r.Scenario, r.Target)
	if r.ServerPID > 0 {
		fmt.Fprintf(w, " (server pid %d)", r.ServerPID)
	}
	fmt.Fprintln(w)
	p(plural(r.Unit), "%d ok of %d in %s: %s", r.OK, r.Ops, r.Elapsed.Round(time.Millisecond), rate(r.Throughput(), r.Unit))
	if r.ItemUnit != "" {
		p(plural(r.ItemUnit), "%d: %s", r.Items, rate(r.ItemThroughput(), r.ItemUnit))
	}
	if len(r.Outcomes) > 0 {
		p("outcomes", "%s", counts(r.Outcomes))
	}
	l := r.Latency
	p("latency", "p50 %s  p90 %s  p99 %s  max %s", dur(l.P50), dur(l.P90), dur(l.P99), dur(l.Max))
	if r.ServerPID > 0 {
		line := fmt.Sprintf("%s: %s per %s", r.ServerCPU.Round(time.Millisecond), dur(r.ServerCPUPerOp()), r.Unit)
		if r.ItemUnit != "" {
			line += fmt.Sprintf(", %s per %s", dur(r.ServerCPUPerItem()), r.ItemUnit)
		}
		p("server CPU", "%s", line)
		p("server RSS", "before %s, after %s, peak %s", mib(r.ServerRSSBefore), mib(r.ServerRSSAfter), mib(r.ServerRSSPeak))
		if r.Scenario == "idle" {
			p("memory", "%s per connection held", kib(r.MemoryPerConn()))
		}
	}
	p("load CPU", "%s of %d CPU(s) over %s (%.0f%%)", r.LoadCPU.Round(time.Millisecond), r.LoadCores, r.Elapsed.Round(time.Millisecond), 100*r.LoadUtilization())
	if r.Conns > 0 { // the flow's switches open theirs where the load generator cannot count
		p("connections", "%d opened", r.Conns)
	}
	if len(r.Errors) == 0 {
		p("errors", "none")
	} else {
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			line := fmt.Sprintf("%d × %s", r.Errors[k], k)
			if s := r.ErrorSamples[k]; s != "" {
				line += fmt.Sprintf(" (first: %s)", s)
			}
			p("errors", "%s", line)
		}
	}
	if r.LoadBound() {
		fmt.Fprintf(w, "  WARNING: the load generator used %.0f%% of its %d CPU(s): these figures are load-bound, not server-bound\n", 100*r.LoadUtilization(), r.LoadCores)
	}
}

func rate(perSec float64, unit string) string {
	return fmt.Sprintf("%s %s/s", num(perSec), plural(unit))
}

func plural(unit string) string {
	if strings.HasSuffix(unit, "ch") {
		return unit + "es"
	}
	return unit + "s"
}

// num prints a figure with thousands separators, to the unit.
func num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// dur prints a duration to three significant figures or so.
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	}
}

func mib(b int64) string   { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// WriteSummary prints one run on one line, for progress reports.
func WriteSummary(w io.Writer, r Result) {
	fmt.Fprintf(w, "%d/%d ok, %s", r.OK, r.Ops, rate(r.Throughput(), r.Unit))
	if r.ItemUnit != "" {
		fmt.Fprintf(w, " (%s)", rate(r.ItemThroughput(), r.ItemUnit))
	}
	if r.ServerPID > 0 {
		fmt.Fprintf(w, ", server CPU %s per %s", dur(r.ServerCPUPerOp()), r.Unit)
		if r.Scenario == "idle" {
			fmt.Fprintf(w, ", %s per connection", kib(r.MemoryPerConn()))
		}
	}
	fmt.Fprintf(w, ", load CPU %.0f%%", 100*r.LoadUtilization())
	if n := r.ErrorCount(); n > 0 {
		fmt.Fprintf(w, ", %d errors", n)
	}
	if r.LoadBound() {
		fmt.Fprint(w, " (load-bound)")
	}
}
