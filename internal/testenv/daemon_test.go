package testenv

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDaemonStartSignalRestart(t *testing.T) {
	dir := t.TempDir()
	ready := false
	d := &Daemon{
		Name: "sleeper", Argv: []string{"/bin/sh", "-c", "echo started; exec sleep 60"},
		Log: filepath.Join(dir, "log"), Timeout: 5 * time.Second,
		Ready: func() error {
			if !ready {
				ready = true // answers on the second probe
				return errors.New("not yet")
			}
			return nil
		},
	}
	for round := range 2 {
		ready = false
		if err := d.Start(); err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		if !d.Running() || d.Pid() == 0 {
			t.Fatalf("round %d: not running after Start", round)
		}
		if err := d.Start(); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("round %d: second Start = %v, want already running", round, err)
		}
		if err := d.Signal(syscall.SIGTERM, 5*time.Second); err != nil {
			t.Fatalf("round %d: Signal: %v", round, err)
		}
		if d.Running() || d.Pid() != 0 {
			t.Errorf("round %d: still running after SIGTERM", round)
		}
	}
	if got := d.LogTail(5); got != "started\nstarted" {
		t.Errorf("LogTail = %q, want the output of both runs", got)
	}
	if err := d.Signal(syscall.SIGTERM, time.Second); err != nil {
		t.Errorf("Signal to a stopped daemon = %v, want nil", err)
	}
}

func TestDaemonExitWhileStarting(t *testing.T) {
	d := &Daemon{
		Name: "crasher", Argv: []string{"/bin/sh", "-c", "echo cannot bind >&2; exit 3"},
		Log: filepath.Join(t.TempDir(), "log"), Timeout: 5 * time.Second,
		Ready: func() error { return errors.New("no answer") },
	}
	err := d.Start()
	if err == nil || !strings.Contains(err.Error(), "crasher exited while starting: exit status 3") || !strings.Contains(err.Error(), "cannot bind") {
		t.Errorf("Start = %v, want the exit and the log's last lines", err)
	}
}
