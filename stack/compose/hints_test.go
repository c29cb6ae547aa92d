package compose

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestImageHints(t *testing.T) {
	dir := t.TempDir()
	yml := "services:\n  a:\n    image: registry.example/a:1\n  b:\n    image: registry.example/b:${TAG}\n  c:\n    image: registry.example/a:1\n" +
		"  d:\n    image: ${UNSET}\n  e:\n    image: registry.example/e:${E_TAG:-latest}\n  f:\n    image: registry.example/f:${FROM_DOTENV}\n  g:\n    build: .\n"
	for name, data := range map[string]string{"a.yml": yml, ".env": "FROM_DOTENV=7\nTAG=from-dotenv\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := ImageHints(Options{Files: []string{"a.yml", "missing.yml", "-"}, WorkingDir: dir, Environ: map[string]string{"TAG": "2"}})
	want := []string{"registry.example/a:1", "registry.example/b:2", "registry.example/e:latest", "registry.example/f:7"}
	if !slices.Equal(got, want) {
		t.Errorf("hints = %v, want %v", got, want)
	}
}
