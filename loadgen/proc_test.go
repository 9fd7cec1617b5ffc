package loadgen_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regcenter/regcenter/loadgen"
)

func TestParseStatCPU(t *testing.T) {
	// Fields after the name: state ppid pgrp session tty tpgid flags
	// minflt cminflt majflt cmajflt utime stime ...
	tail := " S 1 1234 1234 0 -1 4194560 5000 0 3 0 250 75 0 0 20 0 9 0 100 1000000 2000 18446744073709551615"
	cases := []struct {
		name, stat string
		want       uint64
		wantErr    bool
	}{
		{"plain", "1234 (regcenter)" + tail, 325, false},
		{"name with spaces", "1234 (my server)" + tail, 325, false},
		{"name with parentheses", "1234 (a) (b) c))" + tail, 325, false},
		{"name that looks like fields", "1234 (x 1 2 3 4 5 6 7 8 9 10 11 12 13)" + tail, 325, false},
		{"no parentheses", "1234 regcenter" + tail, 0, true},
		{"cut short", "1234 (regcenter) S 1 2 3", 0, true},
		{"not a number", "1234 (regcenter) S 1 1234 1234 0 -1 4194560 5000 0 3 0 x 75", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := loadgen.ParseStatCPU([]byte(c.stat))
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("ParseStatCPU = %d, %v; want %d (error %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	cases := []struct {
		name, status string
		want         int64
		wantErr      bool
	}{
		{"typical", "Name:\tregcenter\nVmPeak:\t  800000 kB\nVmHWM:\t   30000 kB\nVmRSS:\t   24576 kB\nRssAnon:\t 10000 kB\n", 24576 << 10, false},
		{"last line without newline", "Name:\tx\nVmRSS:\t1 kB", 1024, false},
		{"kernel thread", "Name:\tkthreadd\nState:\tS (sleeping)\n", 0, true},
		{"other unit", "VmRSS:\t 12 MB\n", 0, true},
		{"garbage", "VmRSS:\t abc kB\n", 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := loadgen.ParseStatusRSS([]byte(c.status))
			if (err != nil) != c.wantErr || got != c.want {
				t.Errorf("ParseStatusRSS = %d, %v; want %d (error %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}

// The parsers agree with the real files of this process.
func TestProcessReadings(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	rss, err := loadgen.ProcessRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Errorf("ProcessRSS = %d, %v; want at least a MiB", rss, err)
	}
	before, err := loadgen.ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the clock-tick counter moves: it must, and forward.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		_ = strings.Repeat("x", 1<<16)
		after, err := loadgen.ProcessCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
		if after < before {
			t.Fatalf("CPU time went back from %v to %v", before, after)
		}
	}
	t.Error("the process's CPU time did not grow while it computed")
}

func TestSummarize(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- { // out of order on purpose
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	got := loadgen.Summarize(samples)
	want := loadgen.Latency{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if one := loadgen.Summarize([]time.Duration{7}); one != (loadgen.Latency{P50: 7, P90: 7, P99: 7, Max: 7}) {
		t.Errorf("one sample: %+v", one)
	}
	if none := loadgen.Summarize(nil); none != (loadgen.Latency{}) {
		t.Errorf("no sample: %+v", none)
	}
}
