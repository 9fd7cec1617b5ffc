package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/regcenter/regcenter"
	"github.com/regcenter/regcenter/client"
)

// Result is what one run of a scenario measured.
type Result struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	// Unit is what one operation is: a "request", a "batch" of an upload,
	// a "connection", a "switch" onboarded.
	Unit    string        `json:"unit"`
	Elapsed time.Duration `json:"elapsed_ns"` // of the measured window
	Ops     int           `json:"ops"`        // operations attempted
	OK      int           `json:"ok"`         // operations that succeeded
	// Items counts what the successful operations carried when that is
	// not one each: devices of an upload.
	Items    int    `json:"items,omitempty"`
	ItemUnit string `json:"item_unit,omitempty"`
	// Outcomes counts what the center said of each item (upload: created,
	// unchanged, ...).
	Outcomes map[string]int `json:"outcomes,omitempty"`
	// Errors counts failed operations (and refused items) by kind: "404
	// not_claimed", "net: connection reset", ... ErrorSamples holds the
	// first message of each kind.
	Errors       map[string]int    `json:"errors,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Latency      Latency           `json:"latency"` // of successful operations
	Conns        int               `json:"conns"`   // TCP connections opened

	// The server's readings, when its PID was known.
	ServerPID       int           `json:"server_pid,omitempty"`
	ServerCPU       time.Duration `json:"server_cpu_ns,omitempty"`
	ServerRSSBefore int64         `json:"server_rss_before,omitempty"`
	ServerRSSAfter  int64         `json:"server_rss_after,omitempty"` // at the end of the window (idle: with every connection open)
	ServerRSSPeak   int64         `json:"server_rss_peak,omitempty"`  // highest sampled during the window

	// The load generator's own CPU over the window, and how many CPUs it
	// was allowed.
	LoadCPU   time.Duration `json:"load_cpu_ns"`
	LoadCores int           `json:"load_cores"`
}

// Latency summarises durations by nearest-rank percentiles.
type Latency struct {
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// Summarize returns the percentiles of samples, which it sorts.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	at := func(p float64) time.Duration {
		// Nearest rank: the smallest sample with at least p of all at or
		// below it.
		i := int(float64(len(samples))*p+0.999999) - 1
		return samples[max(0, min(i, len(samples)-1))]
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: samples[len(samples)-1]}
}

// Failed is the number of operations that failed.
func (r Result) Failed() int { return r.Ops - r.OK }

// ErrorCount is the number of errors of every kind, refused items included.
func (r Result) ErrorCount() int {
	n := 0
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Throughput is successful operations per second.
func (r Result) Throughput() float64 { return perSecond(r.OK, r.Elapsed) }

// ItemThroughput is items (devices of an upload) per second.
func (r Result) ItemThroughput() float64 { return perSecond(r.Items, r.Elapsed) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ServerCPUPerOp is the server's CPU time per successful operation, 0
// when unknown.
func (r Result) ServerCPUPerOp() time.Duration { return per(r.ServerCPU, r.OK) }

// ServerCPUPerItem is the server's CPU time per item.
func (r Result) ServerCPUPerItem() time.Duration { return per(r.ServerCPU, r.Items) }

func per(d time.Duration, n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return d / time.Duration(n)
}

// MemoryPerConn is how much the server's resident memory grew per
// successful operation (per connection held, in the idle scenario).
func (r Result) MemoryPerConn() float64 {
	if r.OK == 0 || r.ServerPID == 0 {
		return 0
	}
	return float64(r.ServerRSSAfter-r.ServerRSSBefore) / float64(r.OK)
}

// LoadUtilization is the share of its allowed CPUs the load generator
// used over the window: near 1, the load generator, not the server, set
// the pace.
func (r Result) LoadUtilization() float64 {
	if r.Elapsed <= 0 || r.LoadCores <= 0 {
		return 0
	}
	return r.LoadCPU.Seconds() / (r.Elapsed.Seconds() * float64(r.LoadCores))
}

// SaturationThreshold is the LoadUtilization above which a run's
// figures are load-bound rather than server-bound.
const SaturationThreshold = 0.9

// LoadBound reports whether the load generator's cores were saturated.
func (r Result) LoadBound() bool { return r.LoadUtilization() > SaturationThreshold }

// statusError is a non-2xx answer, kept with its status because the
// domain error that client.ProblemError makes keeps only the kind.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %v", e.status, e.err) }
func (e *statusError) Unwrap() error { return e.err }

// checkAnswer drains and closes resp's body, and returns the error a
// non-2xx answer stands for.
func checkAnswer(resp *http.Response) error {
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &statusError{status: resp.StatusCode, err: client.ProblemError(resp)}
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	return nil
}

// ErrorKind classifies a failed operation for the report: by status and
// problem code for an answer, by cause for a failure of the network or of
// TLS. Kinds are few and stable, so that one failure repeated a thousand
// times is one line.
func ErrorKind(err error) string {
	var (
		se    *statusError
		verr  *tls.CertificateVerificationError
		rec   tls.RecordHeaderError
		nerr  net.Error
		errno syscall.Errno
	)
	switch {
	case errors.As(err, &se):
		if e, ok := regcenter.AsError(se.err); ok {
			return fmt.Sprintf("%d %s", se.status, e.Code)
		}
		return fmt.Sprintf("%d", se.status)
	case errors.Is(err, errNotOnboarded):
		return "not onboarded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.As(err, &verr):
		return "tls: server certificate not trusted"
	case errors.As(err, &rec):
		return "tls: not a TLS server"
	case errors.As(err, &errno):
		return "net: " + errno.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "net: closed by the server"
	}
	if msg := err.Error(); strings.Contains(msg, "remote error: tls: ") {
		// The alert the server sent: a short, fixed set of names.
		_, alert, _ := strings.Cut(msg, "remote error: tls: ")
		return "tls alert: " + alert
	}
	return "other"
}
