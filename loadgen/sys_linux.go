//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"
)

// cpuMask is a cpu_set_t of 1024 CPUs, the size glibc uses.
type cpuMask [16]uint64

func maskOf(cpus []int) (cpuMask, error) {
	var m cpuMask
	if len(cpus) == 0 {
		return m, errors.New("no CPU to pin to")
	}
	for _, c := range cpus {
		if c < 0 || c >= len(m)*64 {
			return m, fmt.Errorf("CPU %d out of range", c)
		}
		m[c/64] |= 1 << (c % 64)
	}
	return m, nil
}

// setAffinity sets the CPUs a thread (a tid; 0 is the calling thread) may
// run on. Linux applies sched_setaffinity to one thread, not a process.
func setAffinity(tid int, m *cpuMask) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(*m), uintptr(unsafe.Pointer(m)))
	if e != 0 {
		return e
	}
	return nil
}

func getAffinity(tid int) (cpuMask, error) {
	var m cpuMask
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, uintptr(tid), unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m)))
	if e != 0 {
		return m, e
	}
	return m, nil
}

// AllowedCPUs returns how many CPUs the calling thread may run on: after
// PinSelf, the load generator's share of the machine.
func AllowedCPUs() int {
	m, err := getAffinity(0)
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, w := range m {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// PinSelf confines every thread of this process to cpus, and sets
// GOMAXPROCS to match. Threads created later inherit the mask of the
// thread that creates them, so a pass that finds no thread it had not
// pinned yet leaves the whole process pinned for good.
func PinSelf(cpus []int) error {
	m, err := maskOf(cpus)
	if err != nil {
		return err
	}
	pinned := map[int]bool{}
	for {
		entries, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || pinned[tid] {
				continue
			}
			// A thread may exit between the listing and the call.
			if err := setAffinity(tid, &m); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("pin thread %d: %w", tid, err)
			}
			pinned[tid] = true
			fresh++
		}
		if fresh == 0 {
			break
		}
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// StartPinned starts cmd confined to cpus, as `taskset -c` would: the
// child is forked from a thread whose mask is set for the moment, and
// inherits it before its first instruction, so none of its threads ever
// runs elsewhere.
func StartPinned(cmd *exec.Cmd, cpus []int) error {
	m, err := maskOf(cpus)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, err := getAffinity(0)
	if err != nil {
		return err
	}
	if err := setAffinity(0, &m); err != nil {
		return fmt.Errorf("pin to CPUs %v: %w", cpus, err)
	}
	startErr := cmd.Start()
	if err := setAffinity(0, &old); err != nil {
		return errors.Join(startErr, err)
	}
	return startErr
}

// RaiseFileLimit makes sure this process may hold n open files, raising
// the soft RLIMIT_NOFILE up to the hard one. Setting it explicitly also
// makes the child processes started afterwards inherit it: Go raises its
// own soft limit at start but gives children the original one back unless
// the program sets the limit itself.
func RaiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Max < n {
		return fmt.Errorf("loadgen: %d open files needed, but the hard limit is %d (raise it: ulimit -Hn)", n, lim.Max)
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}
