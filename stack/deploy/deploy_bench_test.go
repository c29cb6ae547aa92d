package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deckhand/deckhand/internal/testenv"
)

// BenchmarkDeploy50Services compares deckhand with docker stack deploy, in
// the same run on the same engine, for a 50-service stack over 5 images in
// the authenticated registry with --resolve-image always: the first deploy
// (both detached: writing specs, not waiting for containers) and a no-op
// redeploy. Both tools run as processes. It reports the seconds of each and
//
//	first-ratio   deckhand first deploy / docker first deploy (target ≤ 1)
//	noop-speedup  docker no-op redeploy / deckhand no-op redeploy (target ≥ 10)
func BenchmarkDeploy50Services(b *testing.B) {
	e := newE2E(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "deckhand")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/deckhand")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build deckhand: %v\n%s", err, out)
	}
	images := make([]string, 5)
	for i := range images {
		images[i] = fmt.Sprintf("%s-%d", strings.TrimSuffix(e.image, ":v1"), i) + ":v1"
		testenv.BuildImage(b, e.c, images[i])
		testenv.PushImage(b, e.c, images[i])
	}
	var compose strings.Builder
	compose.WriteString("services:\n")
	for i := range 50 {
		// No replicas: the benchmark measures what the tools do, not how fast
		// this machine starts 100 containers.
		fmt.Fprintf(&compose, "  svc%02d:\n    image: %s\n    environment:\n      INDEX: \"%d\"\n    deploy:\n      replicas: 0\n", i, images[i%5], i)
	}
	file := filepath.Join(dir, "fifty.yml")
	if err := os.WriteFile(file, []byte(compose.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(name string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+e.dockerCfg)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return d
	}
	docker := "/usr/local/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		testenv.Unavailable(b, "docker client %s: %v", docker, err)
	}
	// The machine is shared with other tests: every figure is the median of
	// interleaved samples, docker's and deckhand's taken turn by turn.
	var dockerFirst, dhFirst, dockerNoop, dhNoop []time.Duration
	for i := 0; i < b.N; i++ {
		for range firstSamples {
			ds, hs := testenv.UniqueName(b), testenv.UniqueName(b)
			removeStackOnCleanup(b, e.c, ds)
			removeStackOnCleanup(b, e.c, hs)
			dockerArgs := []string{"stack", "deploy", "--detach=true", "--with-registry-auth", "--resolve-image", "always", "-c", file, ds}
			dhArgs := []string{"deploy", "--detach", "--with-registry-auth", "--resolve-image", "always", "-c", file, hs}
			dockerFirst = append(dockerFirst, run(docker, dockerArgs...))
			dhFirst = append(dhFirst, run(bin, dhArgs...))
			for range noopSamples {
				dockerNoop = append(dockerNoop, run(docker, dockerArgs...))
				dhNoop = append(dhNoop, run(bin, dhArgs...))
			}
		}
	}
	b.ReportMetric(median(dockerFirst).Seconds(), "docker-first-s")
	b.ReportMetric(median(dhFirst).Seconds(), "deckhand-first-s")
	b.ReportMetric(median(dhFirst).Seconds()/median(dockerFirst).Seconds(), "first-ratio")
	b.ReportMetric(median(dockerNoop).Seconds(), "docker-noop-s")
	b.ReportMetric(median(dhNoop).Seconds(), "deckhand-noop-s")
	b.ReportMetric(median(dockerNoop).Seconds()/median(dhNoop).Seconds(), "noop-speedup")
}

// Samples per benchmark iteration: first deploys (each into new stacks) and
// no-op redeploys after each first deploy.
const (
	firstSamples = 3
	noopSamples  = 3
)

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
