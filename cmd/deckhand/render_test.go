package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/deckhand/deckhand/stack/compose"
)

// TestRenderGolden runs every case under testdata/render through the CLI.
func TestRenderGolden(t *testing.T) { runGoldenCases(t, "render") }

// TestRenderRoundTrip proves a rendered document is itself a valid compose
// file that renders to the same bytes (the "$$" escaping and final names
// survive a second pass).
func TestRenderRoundTrip(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "render", "configs-secrets"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DH_TEST_SECRET", "s3cret")
	first := renderFile(t, dir, "deployment.yml")
	out := filepath.Join(t.TempDir(), "rendered.yml")
	if err := os.WriteFile(out, first, 0o644); err != nil {
		t.Fatal(err)
	}
	second := renderFile(t, dir, out)
	if string(first) != string(second) {
		t.Errorf("rendering the rendered stack changed it\n--- first\n%s\n--- second\n%s", first, second)
	}
}

func renderFile(t *testing.T, dir, file string) []byte {
	t.Helper()
	st, err := compose.Load(t.Context(), compose.Options{
		Name: "app", Files: []string{file}, WorkingDir: dir, Environ: processEnviron(),
		EnvFiles: []string{filepath.Join(dir, ".env")},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRenderNeverContactsEngine points DOCKER_HOST at a socket that counts
// connections and renders: the count must stay zero.
func TestRenderNeverContactsEngine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	t.Setenv("DH_TEST_SECRET", "s3cret")

	dir, err := filepath.Abs(filepath.Join("testdata", "render", "configs-secrets"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	if code := newCLI(nil, &out, &errOut).run([]string{"deckhand", "render", "-c", "deployment.yml", "app"}); code != 0 {
		t.Fatalf("render exited %d: %s", code, errOut.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("app_nginx_")) {
		t.Fatalf("render printed no hashed config name:\n%s", out.String())
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("render opened %d connection(s) to the engine socket; it must work offline", n)
	}
}
