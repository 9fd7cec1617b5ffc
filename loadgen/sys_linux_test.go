//go:build linux

package loadgen_test

import (
	"maps"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/regcenter/regcenter/loadgen"
)

// allowedLists returns the Cpus_allowed_list of every thread of pid.
func allowedLists(t *testing.T, pid string) map[string]bool {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string]bool{}
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/status")
		if err != nil {
			continue // the thread ended
		}
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
				lists[strings.TrimSpace(v)] = true
			}
		}
	}
	return lists
}

func TestStartPinned(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	before := allowedLists(t, "self")
	cmd := exec.Command("sleep", "10")
	if err := loadgen.StartPinned(cmd, []int{1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if got := allowedLists(t, strconv.Itoa(cmd.Process.Pid)); len(got) != 1 || !got["1"] {
		t.Errorf("the child may run on %v; want CPU 1 only", got)
	}
	if after := allowedLists(t, "self"); !maps.Equal(after, before) {
		t.Errorf("the parent's threads went from %v to %v; StartPinned must leave them as they were", before, after)
	}
}

func TestPinSelf(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	procs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() {
		if err := loadgen.PinSelf(all); err != nil {
			t.Error(err)
		}
		runtime.GOMAXPROCS(procs)
	})
	if err := loadgen.PinSelf([]int{0}); err != nil {
		t.Fatal(err)
	}
	// Threads made after the pinning inherit the mask: a goroutine locked
	// to its thread and blocked makes the runtime start another thread.
	release := make(chan struct{})
	locked := make(chan bool)
	for range 4 {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with it
			locked <- true
			<-release
		}()
	}
	for range 4 {
		<-locked
	}
	defer close(release)
	if got := allowedLists(t, "self"); len(got) != 1 || !got["0"] {
		t.Errorf("threads may run on %v; want CPU 0 only", got)
	}
	if n := loadgen.AllowedCPUs(); n != 1 {
		t.Errorf("AllowedCPUs = %d, want 1", n)
	}
	if runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("GOMAXPROCS = %d, want 1", runtime.GOMAXPROCS(0))
	}
}
