package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Default commands of Applier.
const (
	DefaultTestCommand   = "nginx -t"
	DefaultReloadCommand = "nginx -s reload"
)

// Runner runs a command line and returns its combined output.
type Runner interface {
	Run(ctx context.Context, command string) ([]byte, error)
}

// ShellRunner runs command lines with "sh -c", so users can write them as in
// a shell (quotes, env vars, "&&").
type ShellRunner struct{}

// Run runs command with sh -c.
func (ShellRunner) Run(ctx context.Context, command string) ([]byte, error) {
	return exec.CommandContext(ctx, "sh", "-c", command).CombinedOutput()
}

// Applier writes a rendered config to Path safely: skip when unchanged,
// atomic swap keeping the previous file as Path.bak, test, restore on a
// failed test, reload.
type Applier struct {
	// Path is the config file nginx includes.
	Path string
	// TestCommand checks the config in place (empty: no test).
	TestCommand string
	// ReloadCommand makes nginx load it (empty: no reload).
	ReloadCommand string
	// Runner runs both commands; nil means ShellRunner.
	Runner Runner
}

// Result says what Apply did.
type Result struct {
	Changed  bool // the file on disk now holds the new bytes
	Tested   bool // the test command ran and passed
	Reloaded bool // the reload command ran successfully
}

// Step is the command of Apply that failed.
type Step string

// The commands Apply runs.
const (
	StepTest   Step = "test"   // the config test (TestCommand)
	StepReload Step = "reload" // the reload (ReloadCommand)
)

// CommandError is a failed test or reload command with its output.
type CommandError struct {
	Step    Step
	Command string
	Output  string
	Err     error
}

func (e *CommandError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out != "" {
		out = ": " + out
	}
	if e.Step == StepTest {
		return fmt.Sprintf("nginx config test %q failed (%v)%s; the previous config was restored and nginx was not reloaded", e.Command, e.Err, out)
	}
	return fmt.Sprintf("nginx reload %q failed (%v)%s; the new config is in place and passed the test, check that nginx is running", e.Command, e.Err, out)
}

func (e *CommandError) Unwrap() error { return e.Err }

// IsTestFailure reports whether err is a failed config test.
func IsTestFailure(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && ce.Step == StepTest
}

// Apply puts data in place. On a failed test the previous file (or none) is
// restored and no reload happens, so the file left on disk has always passed
// the test.
func (a *Applier) Apply(ctx context.Context, data []byte) (Result, error) {
	runner := a.Runner
	if runner == nil {
		runner = ShellRunner{}
	}
	old, err := os.ReadFile(a.Path)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("read current nginx config: %w", err)
	}
	if existed && bytes.Equal(old, data) {
		return Result{}, nil
	}
	mode := fs.FileMode(0o644)
	if existed {
		if st, err := os.Stat(a.Path); err == nil {
			mode = st.Mode().Perm()
		}
		if err := WriteFileAtomic(a.Path+".bak", old, mode); err != nil {
			return Result{}, fmt.Errorf("keep previous nginx config: %w", err)
		}
	}
	if err := WriteFileAtomic(a.Path, data, mode); err != nil {
		return Result{}, fmt.Errorf("write nginx config: %w", err)
	}
	if a.TestCommand != "" {
		if out, err := runner.Run(ctx, a.TestCommand); err != nil {
			var rerr error
			if existed {
				rerr = WriteFileAtomic(a.Path, old, mode)
			} else {
				rerr = os.Remove(a.Path)
			}
			cerr := &CommandError{Step: StepTest, Command: a.TestCommand, Output: string(out), Err: err}
			if rerr != nil {
				return Result{Changed: true}, fmt.Errorf("%w; restoring the previous config failed too: %v, copy %s.bak back by hand", cerr, rerr, a.Path)
			}
			return Result{}, cerr
		}
	}
	tested := a.TestCommand != ""
	if a.ReloadCommand != "" {
		if out, err := runner.Run(ctx, a.ReloadCommand); err != nil {
			return Result{Changed: true, Tested: tested}, &CommandError{Step: StepReload, Command: a.ReloadCommand, Output: string(out), Err: err}
		}
	}
	return Result{Changed: true, Tested: tested, Reloaded: a.ReloadCommand != ""}, nil
}

// WriteFileAtomic writes data to a temp file in path's directory, fsyncs it,
// sets mode and renames it over path, then fsyncs the directory.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
