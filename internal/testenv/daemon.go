package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Daemon is a long-running program a test supervises (a test sshd, a test
// bed node's dockerd): started in its own process group with its output
// appended to a log, waited for until Ready says it answers, and stopped by
// signal. It can be started again after it stopped.
type Daemon struct {
	Name    string        // for messages, e.g. "sshd on 127.0.0.1:2222"
	Argv    []string      // program and arguments
	Log     string        // file the output is appended to
	Ready   func() error  // nil once the daemon answers
	Timeout time.Duration // how long Start waits for Ready; 90s when zero

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the running process exits
}

// Start runs the program and waits until Ready returns nil, the program
// exits, or Timeout passes.
func (d *Daemon) Start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running() {
		return fmt.Errorf("%s is already running", d.Name)
	}
	logf, err := os.OpenFile(d.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(d.Argv[0], d.Argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	d.cmd, d.done = cmd, done
	timeout := d.Timeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		err := d.Ready()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting: %s\n%s", d.Name, cmd.ProcessState, d.LogTail(20))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s: %v\n%s", d.Name, timeout, err, d.LogTail(20))
		}
	}
}

// Running reports whether the program runs.
func (d *Daemon) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running()
}

func (d *Daemon) running() bool {
	if d.cmd == nil {
		return false
	}
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Pid is the process ID of the running program, 0 when it does not run.
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running() {
		return 0
	}
	return d.cmd.Process.Pid
}

// Signal sends sig to the program and waits up to wait for it to exit,
// killing it after that. It does nothing when the program does not run.
func (d *Daemon) Signal(sig syscall.Signal, wait time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.running() {
		return nil
	}
	if err := d.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %s: %w", d.Name, err)
	}
	select {
	case <-d.done:
		return nil
	case <-time.After(wait):
		_ = d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("%s did not stop within %s after %s; killed it", d.Name, wait, sig)
	}
}

// LogTail is the end of the log.
func (d *Daemon) LogTail(lines int) string {
	b, _ := os.ReadFile(d.Log)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
