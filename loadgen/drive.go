package loadgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Load says how much a scenario does: it stops after Requests operations
// or after Duration, whichever comes first (at least one is required),
// with Concurrency operations in flight (closed loop: each worker starts
// its next operation when the last one ends).
type Load struct {
	Requests    int
	Duration    time.Duration
	Concurrency int // default 1
}

func (l Load) check() error {
	if l.Requests <= 0 && l.Duration <= 0 {
		return errors.New("loadgen: give a number of requests or a duration")
	}
	if l.Concurrency < 0 {
		return errors.New("loadgen: concurrency must be positive")
	}
	return nil
}

// tally is what the workers of a run found.
type tally struct {
	ops, ok   int
	latencies []time.Duration
	errors    map[string]int
	samples   map[string]string
}

func (t *tally) fail(err error) {
	kind := ErrorKind(err)
	if t.errors == nil {
		t.errors, t.samples = map[string]int{}, map[string]string{}
	}
	if t.errors[kind] == 0 {
		t.samples[kind] = err.Error()
	}
	t.errors[kind]++
}

func (t *tally) merge(o *tally) {
	t.ops += o.ops
	t.ok += o.ok
	t.latencies = append(t.latencies, o.latencies...)
	for k, n := range o.errors {
		if t.errors == nil {
			t.errors, t.samples = map[string]int{}, map[string]string{}
		}
		if t.errors[k] == 0 {
			t.samples[k] = o.samples[k]
		}
		t.errors[k] += n
	}
}

func (t *tally) into(r *Result) {
	r.Ops, r.OK = t.ops, t.ok
	r.Latency = Summarize(t.latencies)
	r.Errors, r.ErrorSamples = t.errors, t.samples
}

// run calls op (with the worker's number and the operation's, from 0)
// until the load is done or ctx ends. Operations in flight when the time
// is up finish and count: cutting them would count as failures what the
// server was still doing right.
func (l Load) run(ctx context.Context, op func(ctx context.Context, worker, i int) error) *tally {
	workers := max(1, l.Concurrency)
	if l.Requests > 0 {
		workers = min(workers, l.Requests)
	}
	var deadline time.Time
	if l.Duration > 0 {
		deadline = time.Now().Add(l.Duration)
	}
	var next atomic.Int64
	tallies := make([]tally, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			t := &tallies[w]
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if l.Requests > 0 && i >= l.Requests || !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				t.ops++
				start := time.Now()
				if err := op(ctx, w, i); err != nil {
					t.fail(err)
					continue
				}
				t.latencies = append(t.latencies, time.Since(start))
				t.ok++
			}
		})
	}
	wg.Wait()
	total := &tally{}
	for i := range tallies {
		total.merge(&tallies[i])
	}
	return total
}

// rssSampleInterval is how often the server's memory is read during a
// window, for its peak.
const rssSampleInterval = 100 * time.Millisecond

// measure runs body as the measured window of r: the elapsed time, the
// CPU time of the server (when t.PID is set) and of this process, and the
// server's resident memory before, after and at its sampled peak.
func measure(t Target, r *Result, body func()) error {
	self := os.Getpid()
	r.ServerPID = t.PID
	r.LoadCores = AllowedCPUs()
	var serverCPU0 time.Duration
	if t.PID > 0 {
		var err error
		if serverCPU0, err = ProcessCPU(t.PID); err != nil {
			return fmt.Errorf("loadgen: server process: %w", err)
		}
		if r.ServerRSSBefore, err = ProcessRSS(t.PID); err != nil {
			return fmt.Errorf("loadgen: server process: %w", err)
		}
		r.ServerRSSPeak = r.ServerRSSBefore
	}
	selfCPU0, err := ProcessCPU(self)
	if err != nil {
		return err
	}

	stop := make(chan struct{})
	sampled := make(chan int64, 1)
	go func() {
		peak := r.ServerRSSPeak
		defer func() { sampled <- peak }()
		if t.PID <= 0 {
			return
		}
		tick := time.NewTicker(rssSampleInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if rss, err := ProcessRSS(t.PID); err == nil {
					peak = max(peak, rss)
				}
			}
		}
	}()
	start := time.Now()
	body()
	r.Elapsed = time.Since(start)
	close(stop)
	peak := <-sampled

	selfCPU1, err := ProcessCPU(self)
	if err != nil {
		return err
	}
	r.LoadCPU = selfCPU1 - selfCPU0
	if t.PID > 0 {
		cpu, err := ProcessCPU(t.PID)
		if err != nil {
			return fmt.Errorf("loadgen: server process after the run: %w", err)
		}
		r.ServerCPU = cpu - serverCPU0
		if r.ServerRSSAfter, err = ProcessRSS(t.PID); err != nil {
			return fmt.Errorf("loadgen: server process after the run: %w", err)
		}
		r.ServerRSSPeak = max(peak, r.ServerRSSAfter)
	}
	return nil
}
