// Package e2e runs issue 6's end-to-end scenario: the example system of
// examples/ on a real 3-manager swarm (internal/testbed), deployed with the
// deckhand binary through the authenticated registry, routed by deckhand
// watch and a real nginx, under a steady request load.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/examples"
	"github.com/deckhand/deckhand/internal/testbed"
	"github.com/deckhand/deckhand/internal/testenv"
)

// scenario holds what the phases share.
type scenario struct {
	t        *testing.T
	bed      *testbed.Bed
	deckhand string   // the deckhand binary
	env      []string // DOCKER_HOST=node1, DOCKER_CONFIG, the stack's variables
	stack    string
	host     string // virtual host of the service
	url      string // nginx's address
	conf     string // the file deckhand watch writes
	nginxDir string
	rows     []row
	// noQuorumDeploy is what phase 6 checks once the swarm answers again.
	noQuorumDeploy noQuorumCheck
}

// row is one phase of the summary.
type row struct {
	phase        string
	took         time.Duration
	sent, failed int64
	notes        string
}

// TestScenario is issue 6 steps 1 to 6; see the package comment.
func TestScenario(t *testing.T) {
	start := time.Now()
	hostEngine := testenv.Engine(t)
	reg := testenv.Registry(t)
	nginxBin := testenv.Nginx(t)
	ctx := context.Background()
	s := &scenario{t: t, stack: testenv.UniqueName(t)}
	s.host = s.stack + ".localhost"

	// The deckhand binary, as users run it.
	binDir := t.TempDir()
	s.deckhand = filepath.Join(binDir, "deckhand")
	if out, err := exec.Command("go", "build", "-o", s.deckhand, "../../cmd/deckhand").CombinedOutput(); err != nil {
		t.Fatalf("go build deckhand: %v\n%s", err, out)
	}

	// v1 and v2 of the example image, and a broken v3 whose health check
	// never passes, built on the host and pushed to the registry with auth.
	t0 := time.Now()
	repo := reg.Addr + "/" + s.stack
	for _, v := range []string{"v1", "v2"} {
		if _, err := examples.Image(ctx, examples.Build{Tag: repo + ":" + v, Version: v, CacheBreaker: s.stack + v}); err != nil {
			t.Fatal(err)
		}
	}
	brokenDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(brokenDir, "Dockerfile"), []byte("FROM "+repo+":v2\nENV APP_VERSION=v3 APP_UNHEALTHY=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v3 := exec.Command("docker", "build", "-q", "-t", repo+":v3", brokenDir)
	v3.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := v3.CombinedOutput(); err != nil {
		t.Fatalf("build the broken v3: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", repo+":v1", repo+":v2", repo+":v3").Run() })
	for _, v := range []string{"v1", "v2", "v3"} {
		testenv.PushImage(t, hostEngine, repo+":"+v)
	}
	imagesTook := time.Since(t0)

	bed := testbed.New(t, testbed.Options{Managers: 3, Registry: true, HeartbeatPeriod: 2 * time.Second})
	s.bed = bed
	for i, c := range bed.Clients() {
		labelNode(t, c, bed.Nodes[i].ID)
	}
	r := bed.Registry()
	cfgDir := testenv.DockerConfigFor(t, r)
	s.env = append(bed.Env(0), "DOCKER_CONFIG="+cfgDir, "REGISTRY="+r.Addr, "IMAGE_NAME="+s.stack,
		"APP_API_KEY=e2e-"+s.stack, "HTTP_HOST="+s.host, "ENVIRONMENT=e2e")

	s.startNginx(nginxBin)
	s.startWatch()

	s.phase1()
	s.phase2()
	s.phase3()
	s.phase4()
	s.phase5()
	s.phase6()

	var b strings.Builder
	fmt.Fprintf(&b, "e2e scenario, stack %s on 3 managers: images built and pushed in %s, swarm up in %s\n",
		s.stack, imagesTook.Round(100*time.Millisecond), bed.Took.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "%-48s %8s %6s %6s  %s\n", "phase", "took", "sent", "failed", "notes")
	for _, r := range s.rows {
		fmt.Fprintf(&b, "%-48s %8s %6d %6d  %s\n", r.phase, r.took.Round(100*time.Millisecond), r.sent, r.failed, r.notes)
	}
	fmt.Fprintf(&b, "total wall time %s\n", time.Since(start).Round(time.Second))
	t.Log("\n" + b.String())
	if p := os.Getenv("DECKHAND_E2E_SUMMARY"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Errorf("write the summary to %s: %v", p, err)
		}
	}
}

// labelNode puts the example's placement label on a node (test set-up).
func labelNode(t *testing.T, c *client.Client, id string) {
	t.Helper()
	ctx := context.Background()
	n, err := c.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := n.Node.Spec
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels["deckhand.example"] = "true"
	if _, err := c.NodeUpdate(ctx, id, client.NodeUpdateOptions{Version: n.Node.Version, Spec: spec}); err != nil {
		t.Fatalf("label node %s: %v", id, err)
	}
}

// startNginx runs nginx with examples/nginx/nginx.conf in its own prefix on a
// free loopback port and stops it when the test ends.
func (s *scenario) startNginx(bin string) {
	t := s.t
	s.nginxDir = t.TempDir()
	for _, d := range []string{"conf.d", "logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(s.nginxDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	main, err := os.ReadFile(filepath.Join(examples.Dir(), "nginx", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.nginxDir, "nginx.conf"), main, 0o644); err != nil {
		t.Fatal(err)
	}
	s.conf = filepath.Join(s.nginxDir, "conf.d", "deckhand.conf")
	if err := os.WriteFile(s.conf, []byte("# deckhand watch writes this file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, s.nginxArgs()...).CombinedOutput(); err != nil {
		t.Fatalf("start nginx: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(bin, append(s.nginxArgs(), "-s", "quit")...).CombinedOutput(); err != nil {
			t.Logf("stop nginx: %v\n%s", err, out)
		}
	})
}

func (s *scenario) nginxArgs() []string {
	return []string{"-e", "stderr", "-p", s.nginxDir + "/", "-c", "nginx.conf"}
}

// startWatch runs deckhand watch against node1 with the example template.
func (s *scenario) startWatch() {
	t := s.t
	port := testenv.FreePort(t)
	s.url = fmt.Sprintf("http://127.0.0.1:%d/", port)
	nginxCmd := "nginx " + strings.Join(s.nginxArgs(), " ")
	logf, err := os.Create(filepath.Join(s.nginxDir, "watch.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.deckhand, "watch", "--out", s.conf, "--template", filepath.Join(examples.Dir(), "nginx", "hello.conf.tmpl"),
		"--listen-addr", "127.0.0.1", "--http-port", fmt.Sprint(port),
		"--test-command", nginxCmd+" -t -q", "--reload-command", nginxCmd+" -s reload", s.stack)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		// What watch applied, phase by phase (shown with -v or on failure).
		b, _ := os.ReadFile(logf.Name())
		t.Logf("deckhand watch log:\n%s", b)
	})
}

// result is one run of the deckhand binary.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// run runs deckhand with args and extra environment.
func (s *scenario) run(extra []string, args ...string) result {
	s.t.Helper()
	cmd := exec.Command(s.deckhand, args...)
	cmd.Env = append(slices.Clone(s.env), extra...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(t0)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run deckhand %v: %v", args, err)
	}
	return r
}

// deploy runs deckhand deploy of examples/deployment.yml with TAG=tag.
func (s *scenario) deploy(tag string, extraEnv []string, flags ...string) result {
	args := append([]string{"deploy", "--with-registry-auth", "--prune", "--timeout", "3m"}, flags...)
	args = append(args, "-c", filepath.Join(examples.Dir(), "deployment.yml"), s.stack)
	return s.run(append([]string{"TAG=" + tag}, extraEnv...), args...)
}

// quorumState is the part of deckhand quorum --format json the scenario reads.
type quorumState struct {
	HasQuorum    bool `json:"has_quorum"`
	Up           int  `json:"up"`
	Down         int  `json:"down"`
	FailuresLeft int  `json:"failures_left"`
}

// quorum runs deckhand quorum against node1.
func (s *scenario) quorum() (quorumState, result) {
	r := s.run(nil, "quorum", "--format", "json")
	var q quorumState
	if err := json.Unmarshal([]byte(r.stdout), &q); err != nil {
		return quorumState{}, r
	}
	return q, r
}

var serverLine = regexp.MustCompile(`(?m)^\s*server (\d+\.\d+\.\d+\.\d+):(\d+)`)

// servers lists the "addr:port" servers of the nginx file, sorted.
func (s *scenario) servers() []string {
	b, err := os.ReadFile(s.conf)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, m := range serverLine.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1]+":"+m[2])
	}
	slices.Sort(out)
	return out
}

// addrs are the distinct node addresses among servers.
func addrs(servers []string) []string {
	var out []string
	for _, sv := range servers {
		a, _, _ := strings.Cut(sv, ":")
		out = append(out, a)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// waitFor polls cond until it holds or limit passes; limits bound the wait on
// the swarm and assert nothing about speed.
func (s *scenario) waitFor(what string, limit time.Duration, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("gave up after %s waiting for %s; nginx servers now %v; tasks:\n%s", limit, what, s.servers(), s.taskTable())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// get sends one request through nginx and returns the answer.
func (s *scenario) get(c *http.Client) (string, error) {
	req, err := http.NewRequest(http.MethodGet, s.url, nil)
	if err != nil {
		return "", err
	}
	req.Host = s.host
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// load is a bounded request generator: two clients, each at most one
// request every 20ms, through nginx.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	versions     map[string]int
	hosts        map[string]int
	last         []string  // the most recent answers' versions
	errs         []string  // the first few failures
	failures     []failure // every failure, with its time
	tasks        *taskWatch
	stop         chan struct{}
	wg           sync.WaitGroup
}

var answerRE = regexp.MustCompile(`^hello from (\S+), version (\S+)`)

func (s *scenario) startLoad() *load {
	l := &load{versions: map[string]int{}, hosts: map[string]int{}, stop: make(chan struct{}), tasks: s.watchTasks()}
	for range 2 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := &http.Client{Timeout: 5 * time.Second}
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				l.sent.Add(1)
				start := time.Now()
				ans, err := s.get(c)
				end := time.Now()
				l.mu.Lock()
				if m := answerRE.FindStringSubmatch(ans); err == nil && m != nil {
					l.hosts[m[1]]++
					l.versions[m[2]]++
					l.last = append(l.last, m[2])
					if len(l.last) > 20 {
						l.last = l.last[1:]
					}
				} else {
					l.failed.Add(1)
					l.failures = append(l.failures, failure{start: start, end: end, err: fmt.Sprintf("%q %v", ans, err)})
					if len(l.errs) < 5 {
						l.errs = append(l.errs, fmt.Sprintf("%q %v", ans, err))
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// lastAll reports whether the last 20 answers all came from version v.
func (l *load) lastAll(v string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.last) == 20 && !slices.ContainsFunc(l.last, func(x string) bool { return x != v })
}

// end stops the load and the task watch and returns the counts and a note
// of the versions seen.
func (l *load) end() (sent, failed int64, versions string) {
	close(l.stop)
	l.wg.Wait()
	l.tasks.end()
	var vs []string
	for v, n := range l.versions {
		vs = append(vs, fmt.Sprintf("%s:%d", v, n))
	}
	slices.Sort(vs)
	return l.sent.Load(), l.failed.Load(), strings.Join(vs, " ")
}

// record ends a phase's load and adds its row; it holds the phase to the
// front-door rule (frontdoor_test.go).
func (s *scenario) record(phase string, t0 time.Time, l *load, notes string) {
	sent, failed, versions := l.end()
	fd := judge(l.tasks.samples, l.failures)
	s.rows = append(s.rows, row{phase: phase, took: time.Since(t0), sent: sent, failed: failed,
		notes: strings.TrimSpace(strings.Join([]string{versions, notes, fd.note()}, " "))})
	if failed > 0 {
		s.t.Logf("%s: %d of %d requests failed, first: %v", phase, failed, sent, l.errs)
	}
	if len(fd.ours) > 0 {
		s.t.Error(s.explain(phase, l.tasks.samples, fd))
	}
}

// phase1: deploy v1 through the registry with auth; nginx lists the three
// node addresses and requests reach all three replicas.
func (s *scenario) phase1() {
	t := s.t
	t0 := time.Now()
	r := s.deploy("v1", nil)
	if r.code != 0 {
		t.Fatalf("phase 1: deckhand deploy v1 exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	want := s.bed.Addrs()
	s.waitFor("nginx to list the three node addresses", 2*time.Minute, func() bool {
		sv := s.servers()
		return len(sv) == 3 && slices.Equal(addrs(sv), want)
	})
	c := &http.Client{Timeout: 5 * time.Second}
	hosts := map[string]bool{}
	var sent, failed int64
	for range 30 {
		sent++
		ans, err := s.get(c)
		m := answerRE.FindStringSubmatch(ans)
		if err != nil || m == nil || m[2] != "v1" {
			failed++
			t.Errorf("phase 1: answer %q, %v; want one from v1", ans, err)
			continue
		}
		hosts[m[1]] = true
	}
	var hs []string
	for h := range hosts {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	if len(hs) != 3 {
		t.Errorf("phase 1: 30 requests reached replicas %v, want all three", hs)
	}
	s.rows = append(s.rows, row{phase: "1 deploy v1, nginx lists the 3 nodes", took: time.Since(t0), sent: sent, failed: failed,
		notes: fmt.Sprintf("deploy %s; replicas %s", r.took.Round(100*time.Millisecond), strings.Join(hs, " "))})
}

// phase2: rolling update to v2 (start-first, health-checked) under load: no
// request fails.
func (s *scenario) phase2() {
	t := s.t
	t0 := time.Now()
	l := s.startLoad()
	r := s.deploy("v2", nil)
	if r.code != 0 {
		l.end()
		t.Fatalf("phase 2: deckhand deploy v2 exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.waitFor("every answer to come from v2", 2*time.Minute, func() bool { return l.lastAll("v2") })
	s.record("2 rolling update to v2 under load", t0, l, "deploy "+r.took.Round(100*time.Millisecond).String())
	if row := s.rows[len(s.rows)-1]; row.failed != 0 {
		t.Errorf("phase 2: %d of %d requests failed during the rolling update, want 0", row.failed, row.sent)
	}
}

// serviceSpec is the image and environment of the stack's web service.
func (s *scenario) serviceSpec() (string, []string) {
	s.t.Helper()
	res, err := s.bed.Client(0).ServiceInspect(context.Background(), s.stack+"_web", client.ServiceInspectOptions{})
	if err != nil {
		s.t.Fatalf("inspect service %s_web: %v", s.stack, err)
	}
	spec := res.Service.Spec.TaskTemplate.ContainerSpec
	return spec.Image, spec.Env
}

// phase3: a broken v3 with --atomic: exit 3, the service back on v2, traffic
// unharmed.
func (s *scenario) phase3() {
	t := s.t
	t0 := time.Now()
	l := s.startLoad()
	r := s.deploy("v3", nil, "--atomic")
	if r.code != 3 {
		t.Errorf("phase 3: deckhand deploy --atomic of the broken v3 exited %d, want 3:\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.waitFor("every answer to come from v2 after the rollback", 2*time.Minute, func() bool { return l.lastAll("v2") })
	s.record("3 broken v3 --atomic: exit 3, back on v2", t0, l, fmt.Sprintf("exit %d after %s", r.code, r.took.Round(100*time.Millisecond)))
	if img, _ := s.serviceSpec(); !strings.Contains(img, "/"+s.stack+":v2") {
		t.Errorf("phase 3: service image after the failed atomic deploy is %s, want v2", img)
	}
	if row := s.rows[len(s.rows)-1]; row.failed != 0 || strings.Contains(row.notes, "v3:") {
		t.Errorf("phase 3: %d of %d requests failed (%s), want 0 and no answer from v3", row.failed, row.sent, row.notes)
	}
}

// phase4: stop node3's engine: quorum says 0 failures left, deploy still
// works, nginx drops node3's servers.
func (s *scenario) phase4() {
	t := s.t
	t0 := time.Now()
	l := s.startLoad()
	if err := s.bed.Stop(2); err != nil {
		l.end()
		t.Fatalf("phase 4: stop node3: %v", err)
	}
	var q quorumState
	var qr result
	// Swarm schedules onto a node until its heartbeat lapses, later than raft
	// notices the manager is gone: deploy once docker node ls shows it down,
	// as an operator would.
	s.waitFor("deckhand quorum and the node list to see node3 down", 2*time.Minute, func() bool {
		q, qr = s.quorum()
		return q.Down == 1 && s.nodeState(2) == swarm.NodeStateDown
	})
	if !q.HasQuorum || q.FailuresLeft != 0 || q.Up != 2 {
		t.Errorf("phase 4: deckhand quorum with one manager down: %+v, want quorum kept with 0 failures left\n%s", q, qr.stdout)
	}
	r := s.deploy("v2", []string{"ENVIRONMENT=e2e-degraded"})
	if r.code != 0 {
		t.Errorf("phase 4: deckhand deploy with one manager down exited %d, want 0:\n%s%s", r.code, r.stdout, r.stderr)
	}
	gone := s.bed.Nodes[2].Addr
	s.waitFor("nginx to drop node3 and list 3 servers", 2*time.Minute, func() bool {
		sv := s.servers()
		return len(sv) == 3 && !slices.Contains(addrs(sv), gone)
	})
	s.record("4 node3 stopped: quorum 0 left, deploy, drop", t0, l,
		fmt.Sprintf("failures_left=%d; deploy exit %d in %s; servers on %s", q.FailuresLeft, r.code, r.took.Round(100*time.Millisecond), strings.Join(addrs(s.servers()), " ")))
}

// phase5: stop node2 too: deploy fails fast with the quorum error and writes
// nothing; node1's replicas keep serving; watch keeps the last good config.
func (s *scenario) phase5() {
	t := s.t
	t0 := time.Now()
	imgBefore, envBefore := s.serviceSpec()
	l := s.startLoad()
	if err := s.bed.Stop(1); err != nil {
		l.end()
		t.Fatalf("phase 5: stop node2: %v", err)
	}
	c := s.bed.Client(0)
	s.waitFor("node1 to report that the swarm has no leader", 2*time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.NodeList(ctx, client.NodeListOptions{})
		return err != nil && strings.Contains(err.Error(), "leader")
	})
	good, err := os.ReadFile(s.conf)
	if err != nil {
		t.Fatal(err)
	}
	r := s.deploy("v2", []string{"ENVIRONMENT=e2e-no-quorum"})
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "quorum") {
		t.Errorf("phase 5: deckhand deploy without quorum exited %d, want a failure naming the lost quorum:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Traffic keeps flowing through the last good config for a while.
	served := l.sent.Load() - l.failed.Load()
	s.waitFor("100 more answers through nginx", time.Minute, func() bool { return l.sent.Load()-l.failed.Load() >= served+100 })
	now, err := os.ReadFile(s.conf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(now, good) {
		t.Errorf("phase 5: deckhand watch changed the nginx config while the swarm had no leader:\n%s", now)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	s.record("5 node2 stopped too: no quorum", t0, l, fmt.Sprintf("deploy exit %d in %s: %s", r.code, r.took.Round(100*time.Millisecond), lines[len(lines)-1]))
	s.noQuorumDeploy = noQuorumCheck{image: imgBefore, env: envBefore}
}

// noQuorumCheck is what phase 6 checks once the swarm answers again: the
// deploy of phase 5 wrote nothing.
type noQuorumCheck struct {
	image string
	env   []string
}

// phase6: start both engines again: the swarm recovers, the deploy refused
// during the outage goes through, and watch converges to all three replicas.
func (s *scenario) phase6() {
	t := s.t
	t0 := time.Now()
	l := s.startLoad()
	if err := s.bed.Start(1, 2); err != nil {
		l.end()
		t.Fatalf("phase 6: start node2 and node3: %v", err)
	}
	var q quorumState
	s.waitFor("deckhand quorum to see three managers up", 3*time.Minute, func() bool {
		q, _ = s.quorum()
		return q.Up == 3 && q.FailuresLeft == 1
	})
	recovered := time.Since(t0)
	if img, env := s.serviceSpec(); img != s.noQuorumDeploy.image || !slices.Equal(env, s.noQuorumDeploy.env) {
		t.Errorf("phase 6: the service changed to %s %v although the deploy without quorum failed; before it was %s %v",
			img, env, s.noQuorumDeploy.image, s.noQuorumDeploy.env)
	}
	r := s.deploy("v2", []string{"ENVIRONMENT=e2e-no-quorum"})
	if r.code != 0 {
		t.Errorf("phase 6: the deploy refused during the outage exited %d after recovery, want 0:\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.waitFor("nginx to list the three running replicas", 3*time.Minute, func() bool {
		return s.runningTasks() == 3 && len(s.servers()) == 3
	})
	s.record("6 both restarted: recover, deploy, converge", t0, l,
		fmt.Sprintf("quorum back in %s, failures_left=%d; deploy exit %d in %s; servers on %s", recovered.Round(100*time.Millisecond),
			q.FailuresLeft, r.code, r.took.Round(100*time.Millisecond), strings.Join(addrs(s.servers()), " ")))
}

// nodeState is node i's state as node1 sees it ("" when it cannot tell).
func (s *scenario) nodeState(i int) swarm.NodeState {
	n, err := s.bed.Client(0).NodeInspect(context.Background(), s.bed.Nodes[i].ID, client.NodeInspectOptions{})
	if err != nil {
		return ""
	}
	return n.Node.Status.State
}

// runningTasks counts the web service's running tasks, as node1 sees them.
func (s *scenario) runningTasks() int {
	tasks, err := s.bed.Client(0).TaskList(context.Background(), client.TaskListOptions{
		Filters: make(client.Filters).Add("service", s.stack+"_web").Add("desired-state", "running")})
	if err != nil {
		return -1
	}
	n := 0
	for _, tk := range tasks.Items {
		if tk.Status.State == swarm.TaskStateRunning {
			n++
		}
	}
	return n
}

// taskTable lists the web service's tasks for failure messages.
func (s *scenario) taskTable() string {
	tasks, err := s.bed.Client(0).TaskList(context.Background(), client.TaskListOptions{
		Filters: make(client.Filters).Add("service", s.stack+"_web")})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, tk := range tasks.Items {
		fmt.Fprintf(&b, "slot %d node %s desired %s state %s %q ports %v\n", tk.Slot, tk.NodeID, tk.DesiredState, tk.Status.State, tk.Status.Err, tk.Status.PortStatus.Ports)
	}
	return b.String()
}
