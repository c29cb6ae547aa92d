package nginx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeRunner records the commands it runs and what the config file held when
// each ran; fail maps a command to the error it returns.
type fakeRunner struct {
	path  string
	fail  map[string]error
	calls []string
	seen  []string
}

func (f *fakeRunner) Run(_ context.Context, command string) ([]byte, error) {
	f.calls = append(f.calls, command)
	b, _ := os.ReadFile(f.path)
	f.seen = append(f.seen, string(b))
	if err := f.fail[command]; err != nil {
		return []byte("nginx: [emerg] unexpected \"}\" in site.conf:3"), err
	}
	return nil, nil
}

func newApplier(t *testing.T) (*Applier, *fakeRunner) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "site.conf")
	r := &fakeRunner{path: path, fail: map[string]error{}}
	return &Applier{Path: path, TestCommand: "nginx -t", ReloadCommand: "nginx -s reload", Runner: r}, r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyFirstWriteTestsThenReloads(t *testing.T) {
	a, r := newApplier(t)
	res, err := a.Apply(context.Background(), []byte("v1"))
	if err != nil || res != (Result{Changed: true, Tested: true, Reloaded: true}) {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if want := []string{"nginx -t", "nginx -s reload"}; !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("calls %v want %v", r.calls, want)
	}
	if r.seen[0] != "v1" {
		t.Fatalf("the test must see the new config in place, saw %q", r.seen[0])
	}
	if _, err := os.Stat(a.Path + ".bak"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no previous file, so no .bak: %v", err)
	}
	if st, _ := os.Stat(a.Path); st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", st.Mode().Perm())
	}
}

func TestApplyUnchangedDoesNothing(t *testing.T) {
	a, r := newApplier(t)
	if _, err := a.Apply(context.Background(), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	r.calls = nil
	res, err := a.Apply(context.Background(), []byte("v1"))
	if err != nil || res.Changed || res.Reloaded || len(r.calls) != 0 {
		t.Fatalf("unchanged bytes must run nothing: %+v %v %v", res, err, r.calls)
	}
}

func TestApplyKeepsModeAndBackup(t *testing.T) {
	a, _ := newApplier(t)
	if err := os.WriteFile(a.Path, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(a.Path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(context.Background(), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, a.Path); got != "v2" {
		t.Fatalf("config %q", got)
	}
	if got := readFile(t, a.Path+".bak"); got != "v1" {
		t.Fatalf(".bak %q, want the previous config", got)
	}
	if st, _ := os.Stat(a.Path); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640 kept", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(a.Path), ".site.conf.tmp-*")); len(left) != 0 {
		t.Fatalf("temp files left behind: %v", left)
	}
}

func TestApplyFailedTestRestoresAndDoesNotReload(t *testing.T) {
	a, r := newApplier(t)
	if _, err := a.Apply(context.Background(), []byte("good")); err != nil {
		t.Fatal(err)
	}
	r.calls = nil
	r.fail["nginx -t"] = errors.New("exit status 1")
	res, err := a.Apply(context.Background(), []byte("bad"))
	if !IsTestFailure(err) || res.Changed || res.Reloaded {
		t.Fatalf("want a test failure and nothing changed: %+v %v", res, err)
	}
	if !strings.Contains(err.Error(), "restored") || !strings.Contains(err.Error(), "unexpected") {
		t.Fatalf("error must carry nginx's output and say what happened: %v", err)
	}
	if want := []string{"nginx -t"}; !reflect.DeepEqual(r.calls, want) {
		t.Fatalf("calls %v want %v (no reload)", r.calls, want)
	}
	if got := readFile(t, a.Path); got != "good" {
		t.Fatalf("config on disk %q, want the previous one", got)
	}
}

func TestApplyFailedFirstTestLeavesNoFile(t *testing.T) {
	a, r := newApplier(t)
	r.fail["nginx -t"] = errors.New("exit status 1")
	if _, err := a.Apply(context.Background(), []byte("bad")); !IsTestFailure(err) {
		t.Fatalf("want a test failure, got %v", err)
	}
	if _, err := os.Stat(a.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a config that failed its test must not stay on disk: %v", err)
	}
}

func TestApplyReloadFailure(t *testing.T) {
	a, r := newApplier(t)
	r.fail["nginx -s reload"] = errors.New("exit status 1")
	res, err := a.Apply(context.Background(), []byte("v1"))
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Step != StepReload || !res.Changed || res.Reloaded {
		t.Fatalf("want a reload error with the config changed: %+v %v", res, err)
	}
	if IsTestFailure(err) {
		t.Fatal("a reload failure is not a test failure")
	}
}

func TestApplyWithoutCommands(t *testing.T) {
	a, r := newApplier(t)
	a.TestCommand, a.ReloadCommand = "", ""
	res, err := a.Apply(context.Background(), []byte("v1"))
	if err != nil || !res.Changed || res.Reloaded || len(r.calls) != 0 {
		t.Fatalf("%+v %v %v", res, err, r.calls)
	}
}

func TestShellRunner(t *testing.T) {
	out, err := ShellRunner{}.Run(context.Background(), `printf '%s' "a b" && exit 0`)
	if err != nil || string(out) != "a b" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := (ShellRunner{}).Run(context.Background(), "exit 3"); err == nil {
		t.Fatal("want an error from a failing command")
	}
}
