package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// writeBigStack writes a compose file with n services that use variables,
// ports, deploy settings, labels and healthchecks, as a large real stack does.
func writeBigStack(t testing.TB, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("version: \"3.8\"\nservices:\n")
	for i := range n {
		fmt.Fprintf(&b, `  svc%03d:
    image: ${REGISTRY}/svc%03d:${TAG:-1.0}
    environment:
      NAME: svc%03d
      LEVEL: ${LOG_LEVEL:-info}
    ports:
      - "%d:8080"
    deploy:
      replicas: 2
      labels:
        deckhand.http.host: svc%03d.example.com
      update_config:
        parallelism: 1
        order: start-first
    healthcheck:
      test: ["CMD", "/app", "-healthcheck"]
      interval: 5s
`, i, i, i, 20000+i, i)
	}
	path := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// buildDeckhand builds the deckhand binary into dir.
func buildDeckhand(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "deckhand")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build deckhand: %v\n%s", err, out)
	}
	return bin
}

// BenchmarkRender500VsDockerStackConfig renders a generated 500-service stack
// with `deckhand render` and with `docker stack config`, alternating the two
// in the same run, and reports the median wall time of each and their ratio
// (target: ratio ≤ 1.0).
func BenchmarkRender500VsDockerStackConfig(b *testing.B) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		unavailable(b, "the docker client binary is needed for the comparison: %v", err)
	}
	dir := b.TempDir()
	file := writeBigStack(b, dir, 500)
	bin := buildDeckhand(b, dir)
	env := append(os.Environ(), "REGISTRY=registry.local:5000")
	run := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%.2000s", name, strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	var ours, theirs []time.Duration
	rounds := max(b.N, 5)
	b.ResetTimer()
	for range rounds {
		ours = append(ours, run(bin, "render", "-c", file, "big"))
		theirs = append(theirs, run(docker, "stack", "config", "-c", file))
	}
	o, d := median(ours), median(theirs)
	b.ReportMetric(float64(o.Milliseconds()), "deckhand-ms")
	b.ReportMetric(float64(d.Milliseconds()), "docker-ms")
	b.ReportMetric(float64(o)/float64(d), "ratio")
	fmt.Fprintf(os.Stderr, "render 500 services: deckhand %v, docker stack config %v, ratio %.2f (median of %d)\n", o, d, float64(o)/float64(d), rounds)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// unavailable fails when CI=true (a missing component is a red build there)
// and skips otherwise.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
