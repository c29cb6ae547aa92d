package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/sirupsen/logrus"
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

// renderSizes are the stack sizes the render benchmarks compare at.
var renderSizes = []int{10, 50, 500}

// BenchmarkRenderVsDockerStackConfig renders generated stacks of 10, 50 and
// 500 services with `deckhand render` and with `docker stack config`, both
// as processes, alternating the two in the same run, and reports the median
// wall time of each and their ratio.
func BenchmarkRenderVsDockerStackConfig(b *testing.B) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		unavailable(b, "the docker client binary is needed for the comparison: %v", err)
	}
	dir := b.TempDir()
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
	for _, n := range renderSizes {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			file := writeBigStack(b, b.TempDir(), n)
			var ours, theirs []time.Duration
			rounds := max(b.N, 9)
			b.ResetTimer()
			for range rounds {
				ours = append(ours, run(bin, "render", "-c", file, "big"))
				theirs = append(theirs, run(docker, "stack", "config", "-c", file))
			}
			o, d := median(ours), median(theirs)
			b.ReportMetric(float64(o.Microseconds())/1000, "deckhand-ms")
			b.ReportMetric(float64(d.Microseconds())/1000, "docker-ms")
			b.ReportMetric(float64(o)/float64(d), "ratio")
			fmt.Fprintf(os.Stderr, "render %d services: deckhand %v, docker stack config %v, ratio %.2f (median of %d)\n", n, o.Round(time.Millisecond), d.Round(time.Millisecond), float64(o)/float64(d), rounds)
		})
	}
	start := func(args ...string) time.Duration { return run(bin, args...) }
	var version []time.Duration
	for range 9 {
		version = append(version, start("version"))
	}
	fmt.Fprintf(os.Stderr, "deckhand version (start-up alone): %v (median of 9)\n", median(version).Round(time.Millisecond))
}

// maxLoadOverhead is how much longer deckhand's load may take than a bare
// compose-go load of the same files: what deckhand adds (positions of unset
// variables, the swarm-key and alias checks, content-named configs and
// secrets) must stay small next to compose-go's own work.
const maxLoadOverhead = 1.15

// BenchmarkLoadOverCompose loads generated stacks of 10, 50 and 500 services
// in-process with compose.Load and with compose-go's LoadWithContext alone,
// alternating, and fails when deckhand's median exceeds maxLoadOverhead
// times compose-go's.
func BenchmarkLoadOverCompose(b *testing.B) {
	logrus.SetOutput(io.Discard) // compose-go warns about the obsolete version key
	env := map[string]string{"REGISTRY": "registry.local:5000"}
	for _, n := range renderSizes {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			file := writeBigStack(b, dir, n)
			ctx := context.Background()
			ours := func() time.Duration {
				start := time.Now()
				if _, err := compose.Load(ctx, compose.Options{Name: "big", Files: []string{file}, Environ: env}); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			bare := func() time.Duration {
				start := time.Now()
				data, err := os.ReadFile(file)
				if err != nil {
					b.Fatal(err)
				}
				details := types.ConfigDetails{WorkingDir: dir, Environment: maps.Clone(env),
					ConfigFiles: []types.ConfigFile{{Filename: file, Content: data}}}
				if _, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) { o.SetProjectName("big", true) }); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			ours()
			bare() // warm both up
			var o, c []time.Duration
			rounds := max(b.N, map[int]int{10: 201, 50: 61, 500: 15}[n])
			b.ResetTimer()
			for range rounds {
				o = append(o, ours())
				c = append(c, bare())
			}
			mo, mc := median(o), median(c)
			ratio := float64(mo) / float64(mc)
			b.ReportMetric(float64(mo.Microseconds())/1000, "deckhand-ms")
			b.ReportMetric(float64(mc.Microseconds())/1000, "compose-go-ms")
			b.ReportMetric(ratio, "ratio")
			fmt.Fprintf(os.Stderr, "load %d services: deckhand %v, bare compose-go %v, overhead %+.1f%% (median of %d)\n", n, mo.Round(10*time.Microsecond), mc.Round(10*time.Microsecond), (ratio-1)*100, rounds)
			if ratio > maxLoadOverhead {
				b.Errorf("deckhand's load takes %.2f× a bare compose-go load of %d services; the budget is %.2f×", ratio, n, maxLoadOverhead)
			}
		})
	}
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
