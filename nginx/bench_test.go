package nginx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/testenv"
)

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return s[min(i, len(s)-1)]
}

// BenchmarkReactionLatency scales a host-mode service 1→2 (and back) at
// least 20 times and measures, with watch's default timing, the time from
// the new task reaching running (the engine's own timestamp) to nginx
// answering from it. The docker peer is the engine's own time from the scale
// request to that task running; ratio = deckhand p50 / docker p50.
func BenchmarkReactionLatency(b *testing.B) {
	c := testenv.Engine(b)
	bin := testenv.Nginx(b)
	stack := testenv.UniqueName(b)
	image := testenv.BuildImage(b, c, "deckhand-bench-web:"+stack)
	host := stack + ".bench.test"
	n := startNginx(b, bin)
	met := NewMetrics()
	runWatch(b, c, n, stack, DefaultTemplate(), DefaultTiming, met, &syncBuffer{})
	id := createWebService(b, c, stack, image, testServicePort, map[string]string{discovery.LabelHost: host})
	upstream := stack + "_web"
	waitFor(b, 90*time.Second, "the first task behind nginx", func() bool { return upstreamServers(b, n.Site, upstream) == 1 })

	var react, docker []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for len(react) < 20*(i+1) {
			r, d := scaleUpAndMeasure(b, c, n, id, host)
			react, docker = append(react, r), append(docker, d)
			scale(b, c, id, 1)
			waitFor(b, 60*time.Second, "scale back to 1", func() bool {
				return len(runningTasks(b, c, id)) == 1 && upstreamServers(b, n.Site, upstream) == 1
			})
		}
	}
	b.StopTimer()
	p50, p99 := percentile(react, 0.5), percentile(react, 0.99)
	dp50 := percentile(docker, 0.5)
	b.ReportMetric(float64(p50.Milliseconds()), "p50-ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99-ms")
	b.ReportMetric(float64(dp50.Milliseconds()), "docker-p50-ms")
	b.ReportMetric(float64(p50)/float64(dp50), "p50/docker")
	b.ReportMetric(float64(len(react)), "changes")
	b.Logf("reaction latency over %d scale-ups: p50 %v p99 %v max %v; docker scale→running p50 %v", len(react), p50, p99, slices.Max(react), dp50)
}

// scaleUpAndMeasure scales 1→2 and returns (task running → nginx serves it,
// scale request → task running).
func scaleUpAndMeasure(b *testing.B, c *client.Client, n *nginxServer, id, host string) (time.Duration, time.Duration) {
	b.Helper()
	before := map[string]bool{}
	for _, t := range runningTasks(b, c, id) {
		before[t.ID] = true
	}
	firstSeen := map[string]time.Time{}
	start := time.Now()
	scale(b, c, id, 2)
	var task *swarm.Task
	deadline := time.Now().Add(90 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			b.Fatal("the new task never answered through nginx")
		}
		if _, body, err := n.get(host, "/"); err == nil {
			if h, ok := strings.CutPrefix(strings.Fields(body + " x")[0], "hostname="); ok {
				if _, seen := firstSeen[h]; !seen {
					firstSeen[h] = time.Now()
				}
			}
		}
		if task == nil && i%10 == 0 {
			for _, t := range runningTasks(b, c, id) {
				if !before[t.ID] && t.Status.ContainerStatus != nil && len(t.Status.ContainerStatus.ContainerID) >= 12 {
					task = &t
				}
			}
		}
		if task != nil {
			if at, ok := firstSeen[task.Status.ContainerStatus.ContainerID[:12]]; ok {
				return max(at.Sub(task.Status.Timestamp), 0), task.Status.Timestamp.Sub(start)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkReloadsDuringRollingUpdate rolls a 6-replica host-mode service
// (one task at a time) under watch with several debounce windows and counts
// nginx reloads. The docker peer is the task changes the update makes (6
// stopped + 6 started); reloads/window ≤ 1 is the claim.
func BenchmarkReloadsDuringRollingUpdate(b *testing.B) {
	c := testenv.Engine(b)
	bin := testenv.Nginx(b)
	stack := testenv.UniqueName(b)
	image := testenv.BuildImage(b, c, "deckhand-bench-roll:"+stack)
	host := stack + ".bench.test"
	id := createWebService(b, c, stack, image, testServicePort, map[string]string{discovery.LabelHost: host})
	scale(b, c, id, 6)
	waitFor(b, 180*time.Second, "6 running tasks", func() bool { return len(runningTasks(b, c, id)) == 6 })
	for _, window := range []time.Duration{200 * time.Millisecond, time.Second, 3 * time.Second, 10 * time.Second} {
		b.Run("debounce="+window.String(), func(b *testing.B) {
			n := startNginx(b, bin)
			met := NewMetrics()
			timing := DefaultTiming
			timing.DebounceMin, timing.DebounceMax = window, max(2*time.Second, 2*window)
			stop := runWatch(b, c, n, stack, DefaultTemplate(), timing, met, &syncBuffer{})
			defer stop()
			waitFor(b, 60*time.Second, "6 servers in the config", func() bool { return upstreamServers(b, n.Site, stack+"_web") == 6 })
			var reloads, updates float64
			var took time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r0 := met.Reloads()
				start := time.Now()
				rollingUpdate(b, c, id, fmt.Sprintf("%s-%d", window, i))
				waitFor(b, 60*time.Second, "nginx to follow the update", func() bool {
					return upstreamServers(b, n.Site, stack+"_web") == 6 && len(runningTasks(b, c, id)) == 6
				})
				took += time.Since(start)
				time.Sleep(timing.DebounceMax + DefaultTiming.SlowPoll) // let any last change land
				reloads += float64(met.Reloads() - r0)
				updates++
			}
			b.StopTimer()
			perUpdate := reloads / updates
			windows := took.Seconds() / updates / window.Seconds()
			b.ReportMetric(perUpdate, "reloads/update")
			b.ReportMetric(perUpdate/windows, "reloads/window")
			b.ReportMetric(perUpdate/12, "reloads/docker-task-change")
			b.ReportMetric(took.Seconds()/updates, "update-s")
		})
	}
}

// rollingUpdate changes the service's VERSION, one task at a time, and
// waits for the update to complete.
func rollingUpdate(b *testing.B, c *client.Client, id, version string) {
	b.Helper()
	ctx := context.Background()
	s, err := c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	spec := s.Service.Spec
	spec.TaskTemplate.ContainerSpec.Env = []string{"VERSION=" + version}
	// One task at a time, watched for 500 ms each: a burst of 12 task changes.
	spec.UpdateConfig = &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStopFirst, Monitor: 500 * time.Millisecond}
	if _, err := c.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: s.Service.Version, Spec: spec}); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 300*time.Second, "the rolling update to complete", func() bool {
		s, err := c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
		return err == nil && s.Service.UpdateStatus != nil && s.Service.UpdateStatus.State == swarm.UpdateStateCompleted
	})
}

// fakeEngine serves the list calls and event stream of a swarm with the
// given services over HTTP, as dockerd's API does, for the idle benchmark.
func fakeEngine(services int) *httptest.Server {
	var nodes []swarm.Node
	for i := 1; i <= 3; i++ {
		nd := swarm.Node{ID: fmt.Sprintf("node%d", i)}
		nd.Status.State, nd.Status.Addr, nd.Spec.Availability = swarm.NodeStateReady, fmt.Sprintf("10.0.0.%d", i), swarm.NodeAvailabilityActive
		nd.Description.Hostname = fmt.Sprintf("node%d", i)
		nodes = append(nodes, nd)
	}
	var svcs []swarm.Service
	var tasks []swarm.Task
	three := uint64(3)
	for i := 0; i < services; i++ {
		s := swarm.Service{ID: fmt.Sprintf("svc%03d", i)}
		s.Spec.Name = fmt.Sprintf("stack%d_web%03d", i%5, i)
		s.Spec.Labels = map[string]string{discovery.LabelStack: fmt.Sprintf("stack%d", i%5), discovery.LabelHost: fmt.Sprintf("web%03d.example.com", i)}
		s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &three}
		s.Endpoint.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}
		svcs = append(svcs, s)
		for r := 0; r < 3; r++ {
			t := swarm.Task{ID: fmt.Sprintf("task%03d%d", i, r), ServiceID: s.ID, NodeID: nodes[r].ID, DesiredState: swarm.TaskStateRunning}
			t.Status.State = swarm.TaskStateRunning
			t.Status.PortStatus.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishedPort: uint32(30000 + i), PublishMode: swarm.PortConfigPublishModeHost}}
			tasks = append(tasks, t)
		}
	}
	version := regexp.MustCompile(`^/v[0-9.]+`)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		switch version.ReplaceAllString(r.URL.Path, "") {
		case "/_ping":
			_, _ = w.Write([]byte("OK"))
		case "/nodes":
			_ = json.NewEncoder(w).Encode(nodes)
		case "/services":
			_ = json.NewEncoder(w).Encode(svcs)
		case "/tasks":
			_ = json.NewEncoder(w).Encode(tasks)
		case "/events":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
}

// procStat returns a process's CPU time and resident set size from /proc.
func procStat(b *testing.B, pid int) (cpu time.Duration, rss int64) {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb * 1024
		}
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck, rss
}

// BenchmarkIdleWatcher runs the real `deckhand watch` binary against a fake
// engine serving 100 services × 3 tasks and measures its CPU share and RSS
// while nothing changes (polling every --poll-slow, event stream open).
func BenchmarkIdleWatcher(b *testing.B) {
	eng := fakeEngine(100)
	defer eng.Close()
	dir := b.TempDir()
	exe := filepath.Join(dir, "deckhand")
	if out, err := exec.Command("go", "build", "-o", exe, "../cmd/deckhand").CombinedOutput(); err != nil {
		b.Fatalf("build deckhand: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "site.conf")
	cmd := exec.Command(exe, "watch", "--out", out, "--test-command=", "--reload-command=")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=tcp://"+strings.TrimPrefix(eng.URL, "http://"), "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitFor(b, 30*time.Second, "the first config", func() bool { _, err := os.Stat(out); return err == nil })
	time.Sleep(3 * time.Second) // warm up
	const window = 20 * time.Second
	var cpuShare, rssMiB float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cpu0, _ := procStat(b, cmd.Process.Pid)
		t0 := time.Now()
		time.Sleep(window)
		cpu1, rss := procStat(b, cmd.Process.Pid)
		cpuShare = float64(cpu1-cpu0) / float64(time.Since(t0)) * 100
		rssMiB = float64(rss) / (1 << 20)
	}
	b.StopTimer()
	b.ReportMetric(cpuShare, "cpu-%")
	b.ReportMetric(rssMiB, "rss-MiB")

	// The docker peer: a script polling `docker service ls` every --poll-slow
	// against the same engine; its CPU share is one invocation's CPU time per
	// poll interval.
	docker, err := exec.LookPath("docker")
	if err != nil {
		b.Logf("no docker client on PATH: no peer figure")
		return
	}
	const runs = 10
	var peer time.Duration
	for i := 0; i < runs; i++ {
		pc := exec.Command(docker, "service", "ls")
		pc.Env = cmd.Env
		if out, err := pc.CombinedOutput(); err != nil || strings.Count(string(out), "\n") != 101 {
			b.Fatalf("docker service ls against the fake engine: %v\n%s", err, out)
		}
		peer += pc.ProcessState.UserTime() + pc.ProcessState.SystemTime()
	}
	peerShare := float64(peer/runs) / float64(DefaultTiming.SlowPoll) * 100
	b.ReportMetric(peerShare, "docker-poll-cpu-%")
	b.ReportMetric(cpuShare/peerShare, "cpu/docker-poll")
	// Upstream blocks start their line ("proxy_next_upstream" does not).
	if cfg, err := os.ReadFile(out); err != nil || strings.Count("\n"+string(cfg), "\nupstream ") != 100 {
		b.Fatalf("watch did not render the 100 services (%d upstream blocks): %v", strings.Count("\n"+string(cfg), "\nupstream "), err)
	}
}
