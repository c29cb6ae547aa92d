package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
)

// The benchmarks run deckhand and its docker peer as processes, side by
// side on the same engine, and report medians of interleaved samples: the
// machine is shared with other tests. Each asserts its target with
// b.Errorf, so that make bench says when a figure is off.

// BenchmarkDeploy50Services compares deckhand with docker stack deploy for a
// 50-service stack over 5 images in the authenticated registry with
// --resolve-image always: the first deploy (both detached: writing specs,
// not waiting for containers) and a no-op redeploy. It reports the seconds
// of each, deckhand's phases in the no-op (from --timings; "outside-ms" is
// the process's start-up and exit, outside the command's own clock) and
//
//	first-ratio   deckhand first deploy / docker first deploy (target ≤ 1)
//	noop-speedup  docker no-op redeploy / deckhand no-op redeploy (target ≥ 10)
func BenchmarkDeploy50Services(b *testing.B) {
	e := newE2E(b)
	bin, docker := benchBinaries(b)
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
	file := writeBenchFile(b, "fifty.yml", compose.String())
	b.Run("local", func(b *testing.B) { deploy50(b, e, bin, docker, file, nil) })
	// Over ssh, both tools reach the engine through the same sshd: the far
	// side runs docker system dial-stdio for every connection they open.
	srv := testenv.SSH(b)
	b.Run("ssh", func(b *testing.B) {
		deploy50(b, e, bin, docker, file, []string{"PATH=" + srv.ShimDir + ":" + os.Getenv("PATH"), "DOCKER_HOST=" + srv.Host, "DOCKER_CONTEXT="})
	})
}

// deploy50 takes the samples of BenchmarkDeploy50Services with env added to
// both tools' environment, and asserts the targets.
func deploy50(b *testing.B, e *e2e, bin, docker, file string, env []string) {
	var dockerFirst, dhFirst, dockerNoop, dhNoop []time.Duration
	phases := map[string][]time.Duration{}
	for i := 0; i < b.N; i++ {
		for range firstSamples {
			ds, hs := testenv.UniqueName(b), testenv.UniqueName(b)
			removeStackOnCleanup(b, e.c, ds)
			removeStackOnCleanup(b, e.c, hs)
			dockerArgs := []string{"stack", "deploy", "--detach=true", "--with-registry-auth", "--resolve-image", "always", "-c", file, ds}
			dhArgs := []string{"deploy", "--detach", "--with-registry-auth", "--resolve-image", "always", "-c", file, hs}
			dockerFirst = append(dockerFirst, e.mustRun(b, env, docker, dockerArgs...).took)
			dhFirst = append(dhFirst, e.mustRun(b, env, bin, dhArgs...).took)
			for range noopSamples {
				dockerNoop = append(dockerNoop, e.mustRun(b, env, docker, dockerArgs...).took)
				r := e.mustRun(b, env, bin, slices.Concat(dhArgs[:1], []string{"--timings", "--format", "json"}, dhArgs[1:])...)
				dhNoop = append(dhNoop, r.took)
				for name, d := range noopPhases(b, r) {
					phases[name] = append(phases[name], d)
				}
			}
		}
	}
	first, noop := median(dhFirst).Seconds()/median(dockerFirst).Seconds(), median(dockerNoop).Seconds()/median(dhNoop).Seconds()
	b.ReportMetric(median(dockerFirst).Seconds(), "docker-first-s")
	b.ReportMetric(median(dhFirst).Seconds(), "deckhand-first-s")
	b.ReportMetric(first, "first-ratio")
	b.ReportMetric(median(dockerNoop).Seconds(), "docker-noop-s")
	b.ReportMetric(median(dhNoop).Seconds(), "deckhand-noop-s")
	b.ReportMetric(noop, "noop-speedup")
	for name, ds := range phases {
		b.ReportMetric(float64(median(ds).Microseconds())/1000, name+"-ms")
	}
	b.Logf("first deploy: deckhand %.3fs, docker %.3fs, ratio %.2f (target ≤ 1); no-op: deckhand %.3fs, docker %.3fs, %.1f× faster (target ≥ 10); no-op phases (ms): %s",
		median(dhFirst).Seconds(), median(dockerFirst).Seconds(), first, median(dhNoop).Seconds(), median(dockerNoop).Seconds(), noop, phaseMedians(phases))
	if first > 1 {
		b.Errorf("first deploy: deckhand takes %.2f× docker's time, target ≤ 1", first)
	}
	if noop < 10 {
		b.Errorf("no-op redeploy: deckhand is %.1f× faster than docker, target ≥ 10×", noop)
	}
}

// phaseMedians lists the median of each phase, sorted by name.
func phaseMedians(phases map[string][]time.Duration) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(phases)) {
		parts = append(parts, fmt.Sprintf("%s %.1f", name, float64(median(phases[name]).Microseconds())/1000))
	}
	return strings.Join(parts, ", ")
}

// noopPhases picks the phases of a no-op deploy from its --timings result:
// when the command started its first engine read, the load, when the last
// registry lookup ended, the plan, the command's total, and the process's
// time outside it (start-up before main, exit).
func noopPhases(b *testing.B, r runResult) map[string]time.Duration {
	b.Helper()
	var res struct {
		Timings []struct {
			Phase   string  `json:"phase"`
			StartMS float64 `json:"start_ms"`
			MS      float64 `json:"ms"`
		} `json:"timings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		b.Fatalf("deckhand --timings --format json: %v\n%s", err, r.stdout)
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	out := map[string]time.Duration{}
	for _, p := range res.Timings {
		switch {
		case strings.HasPrefix(p.Phase, "registry "):
			out["lookups-end"] = max(out["lookups-end"], ms(p.StartMS+p.MS))
		case p.Phase == "load", p.Phase == "plan", p.Phase == "connect":
			out[p.Phase] = ms(p.MS)
		case p.Phase == "total":
			out["total"] = ms(p.MS)
			out["outside"] = r.took - ms(p.MS)
		}
	}
	return out
}

// BenchmarkUpdate10Services changes one env value of ten running services
// and waits until they converge: deckhand deploy against docker stack deploy
// --detach=false, both with --resolve-image never. It reports the seconds of
// each, their ratio (target ≤ 0.8: docker waits for the services one after
// the other, deckhand for all at once) and lag-s, how long after the latest
// UpdateStatus.CompletedAt of its services deckhand returned (target ≤ 0.5 s:
// swarm's own update monitor already watched the new tasks).
func BenchmarkUpdate10Services(b *testing.B) {
	e := newE2E(b)
	bin, docker := benchBinaries(b)
	var compose strings.Builder
	compose.WriteString("services:\n")
	for i := range 10 {
		fmt.Fprintf(&compose, "  s%d:\n    image: %s\n    environment:\n      VALUE: ${VALUE}\n    deploy:\n      replicas: 1\n", i, e.image)
	}
	file := writeBenchFile(b, "ten.yml", compose.String())
	ds, hs := testenv.UniqueName(b), testenv.UniqueName(b)
	removeStackOnCleanup(b, e.c, ds)
	removeStackOnCleanup(b, e.c, hs)
	dockerArgs := []string{"stack", "deploy", "--detach=false", "--with-registry-auth", "--resolve-image", "never", "-c", file, ds}
	dhArgs := []string{"deploy", "--with-registry-auth", "--resolve-image", "never", "-c", file, hs}
	value := func(v int) []string { return []string{fmt.Sprintf("VALUE=%d", v)} }
	e.mustRun(b, value(0), docker, dockerArgs...)
	e.mustRun(b, value(0), bin, dhArgs...)
	var dockerT, dhT, lag []time.Duration
	v := 0
	for i := 0; i < b.N; i++ {
		for s := range updateSamples {
			v++
			// Turn by turn, each tool goes first half of the time.
			if s%2 == 0 {
				dockerT = append(dockerT, e.mustRun(b, value(v), docker, dockerArgs...).took)
			}
			r := e.mustRun(b, value(v), bin, dhArgs...)
			dhT = append(dhT, r.took)
			lag = append(lag, r.end.Sub(latestCompletion(b, e.c, hs)))
			if s%2 == 1 {
				dockerT = append(dockerT, e.mustRun(b, value(v), docker, dockerArgs...).took)
			}
			b.Logf("sample %d: docker %.2fs, deckhand %.2fs, lag %.3fs", s, dockerT[len(dockerT)-1].Seconds(), dhT[len(dhT)-1].Seconds(), lag[len(lag)-1].Seconds())
		}
	}
	ratio := median(dhT).Seconds() / median(dockerT).Seconds()
	b.ReportMetric(median(dockerT).Seconds(), "docker-s")
	b.ReportMetric(median(dhT).Seconds(), "deckhand-s")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(median(lag).Seconds(), "lag-s")
	b.Logf("update of 10 services: deckhand %.2fs, docker --detach=false %.2fs, ratio %.2f (target ≤ 0.8); deckhand returned %.3fs after swarm's last CompletedAt (target ≤ 0.5s); %d samples each",
		median(dhT).Seconds(), median(dockerT).Seconds(), ratio, median(lag).Seconds(), len(dhT))
	if ratio > 0.8 {
		b.Errorf("update of 10 services: deckhand takes %.2f× docker's time, target ≤ 0.8", ratio)
	}
	if l := median(lag); l > 500*time.Millisecond {
		b.Errorf("deckhand returned %s after swarm completed the last update, target ≤ 0.5s", l)
	}
}

// latestCompletion is when swarm completed the last update of the stack's services.
func latestCompletion(b *testing.B, c *client.Client, stack string) time.Time {
	b.Helper()
	var latest time.Time
	for name, svc := range stackServices(b, c, stack) {
		us := svc.UpdateStatus
		if us == nil || us.CompletedAt == nil {
			b.Fatalf("service %s has no completed update: %+v", name, us)
		}
		if us.CompletedAt.After(latest) {
			latest = *us.CompletedAt
		}
	}
	return latest
}

// BenchmarkUnschedulable deploys more replicas than nodes on one host-mode
// port: the task left over can never be placed, and deckhand must fail
// (exit 3) after --pending-timeout, not --timeout. It reports the seconds
// to the failure and the pending timeout (target: within 2 s of it).
func BenchmarkUnschedulable(b *testing.B) {
	e := newE2E(b)
	bin, _ := benchBinaries(b)
	nodes, err := e.c.NodeList(context.Background(), client.NodeListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const pending = 10 * time.Second
	var took []time.Duration
	for i := 0; i < b.N; i++ {
		name := testenv.UniqueName(b)
		removeStackOnCleanup(b, e.c, name)
		env := []string{"IMAGE=" + e.image, fmt.Sprintf("PORT=%d", testenv.FreePort(b)), fmt.Sprintf("REPLICAS=%d", len(nodes.Items)+1)}
		r := e.run(env, bin, "deploy", "--pending-timeout", pending.String(), "--timeout", "5m", "-c", fixture("hostport.yml"), name)
		var exit *exec.ExitError
		if !errors.As(r.err, &exit) || exit.ExitCode() != 3 || !strings.Contains(r.stderr, name+"_web unschedulable") {
			b.Fatalf("deploy: %v, want exit 3 naming the unschedulable service\n%s%s", r.err, r.stdout, r.stderr)
		}
		took = append(took, r.took)
	}
	b.ReportMetric(median(took).Seconds(), "fail-after-s")
	b.ReportMetric(pending.Seconds(), "pending-timeout-s")
	b.Logf("unschedulable: exit 3 after %.2fs with --pending-timeout %s and --timeout 5m", median(took).Seconds(), pending)
	if d := median(took); d > pending+2*time.Second {
		b.Errorf("failed after %s, target within 2s of --pending-timeout %s", d, pending)
	}
}

// Samples per benchmark iteration: first deploys (each into new stacks),
// no-op redeploys after each first deploy, and updates of ten services.
const (
	firstSamples  = 3
	noopSamples   = 3
	updateSamples = 4
)

// benchBinaries builds deckhand and finds the docker client it is compared with.
func benchBinaries(b *testing.B) (deckhand, docker string) {
	b.Helper()
	deckhand = filepath.Join(b.TempDir(), "deckhand")
	if out, err := exec.Command("go", "build", "-o", deckhand, "../../cmd/deckhand").CombinedOutput(); err != nil {
		b.Fatalf("build deckhand: %v\n%s", err, out)
	}
	docker = "/usr/local/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		testenv.Unavailable(b, "docker client %s: %v", docker, err)
	}
	return deckhand, docker
}

func writeBenchFile(b *testing.B, name, content string) string {
	b.Helper()
	file := filepath.Join(b.TempDir(), name)
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
	return file
}

// runResult is one timed run of a process.
type runResult struct {
	took   time.Duration
	end    time.Time
	stdout string
	stderr string
	err    error
}

// run runs a process with the test's docker config and env added, timing it.
func (e *e2e) run(env []string, name string, args ...string) runResult {
	cmd := exec.Command(name, args...)
	cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+e.dockerCfg), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	end := time.Now()
	return runResult{took: end.Sub(start), end: end, stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustRun is run for a process that must succeed.
func (e *e2e) mustRun(b *testing.B, env []string, name string, args ...string) runResult {
	b.Helper()
	r := e.run(env, name, args...)
	if r.err != nil {
		b.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
