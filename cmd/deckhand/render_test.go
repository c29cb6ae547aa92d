package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/deckhand/deckhand/stack"
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
	st, err := stack.Load(t.Context(), stack.Options{
		Name: "app", Files: []string{file}, WorkingDir: dir, Environ: stack.ProcessEnviron(),
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
