package compose

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestImageHintsReadLiteralImagesOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte("services:\n  a:\n    image: registry.example/a:1\n  b:\n    image: ${IMAGE}\n  c:\n    image: registry.example/a:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := LiteralImages(Options{Files: []string{"a.yml", "missing.yml", "-"}, WorkingDir: dir})
	if want := []string{"registry.example/a:1"}; !slices.Equal(got, want) {
		t.Errorf("hints = %v, want %v", got, want)
	}
}
