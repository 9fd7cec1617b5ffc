package suite

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"syscall"
	"time"

	"github.com/regcenter/regcenter/loadgen"
)

// process is a server started as a child.
type process struct {
	name string
	cmd  *exec.Cmd
	url  string
	done chan error // the result of Wait
}

// serving matches the line with which `regcenter serve` and `regcenter
// loadgen baseline-server` say where their API is.
var serving = regexp.MustCompile(`API on (https://\S+)`)

// startupTimeout bounds how long a server may take to say where it is.
const startupTimeout = 30 * time.Second

// stopTimeout is how long a server may take to stop after SIGTERM.
const stopTimeout = 20 * time.Second

// startProcess starts argv on cpus (anywhere when cpus is empty) and
// waits for it to print where it serves. Its stderr, and its stdout after
// that line, go to log.
func startProcess(name string, argv []string, cpus []int, log io.Writer) (*process, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if len(cpus) > 0 {
		err = loadgen.StartPinned(cmd, cpus)
	} else {
		err = cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("start the %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		announced := false
		for sc.Scan() {
			if m := serving.FindStringSubmatch(sc.Text()); m != nil && !announced {
				found <- m[1]
				announced = true
				continue
			}
			fmt.Fprintln(log, sc.Text())
		}
		// Wait only once stdout is read to its end, as os/exec requires.
		p.done <- cmd.Wait()
	}()
	select {
	case p.url = <-found:
		return p, nil
	case err := <-p.done:
		p.done <- err
		return nil, fmt.Errorf("the %s exited before serving: %v", name, err)
	case <-time.After(startupTimeout):
		p.stop()
		return nil, fmt.Errorf("the %s did not serve within %v", name, startupTimeout)
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop ends the server as an operator would (SIGTERM), and kills it if it
// does not stop in time.
func (p *process) stop() error {
	// An error means the process is already gone; Wait's result says how.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		return fmt.Errorf("the %s did not stop within %v of SIGTERM; killed", p.name, stopTimeout)
	}
}
