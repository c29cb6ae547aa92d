package nginx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/internal/testenv"
)

// TestGoldenConfigsPassNginxTest runs the real `nginx -t` on every golden
// config, wrapped in a minimal nginx.conf inside a temp prefix.
func TestGoldenConfigsPassNginxTest(t *testing.T) {
	bin := testenv.Nginx(t)
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.conf"))
	if err != nil || len(goldens) < len(goldenModels) {
		t.Fatalf("want %d golden configs, found %v (%v)", len(goldenModels), goldens, err)
	}
	for _, g := range goldens {
		t.Run(filepath.Base(g), func(t *testing.T) {
			abs, err := filepath.Abs(g)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(minimalNginxConf(dir, abs)), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"-t", "-q"}, strings.Fields(nginxArgs(dir))...)
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("nginx -t refuses %s: %v\n%s", g, err, out)
			}
		})
	}
	// The check must be able to fail: a broken config is refused.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	if err := os.WriteFile(bad, []byte("upstream empty {\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(minimalNginxConf(dir, bad)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-t", "-q"}, strings.Fields(nginxArgs(dir))...)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err == nil || !strings.Contains(string(out), "no servers") {
		t.Fatalf("nginx -t must refuse an upstream without servers: %v %s", err, out)
	}
}
