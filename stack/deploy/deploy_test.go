package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/deckhand/deckhand/internal/golden"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/swarmspec"
	"github.com/moby/moby/api/types/swarm"
	"github.com/opencontainers/go-digest"
)

// exitCode is the exit code the command layer gives err: 3 for services
// that did not converge, 1 for any other failure.
func exitCode(err error) int {
	var nc *NotConvergedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &nc):
		return 3
	}
	return 1
}

// notConverged reports whether err says services did not converge.
func notConverged(err error) bool { return exitCode(err) == 3 }

const testImage = "127.0.0.1:5000/svc:1"

var testDigest = digest.Digest("sha256:" + strings.Repeat("ab", 32))

func loadInput(t testing.TB, name, file string, env map[string]string) *compose.Stack {
	t.Helper()
	if env == nil {
		env = map[string]string{"IMAGE": testImage}
	}
	st, err := compose.Load(context.Background(), compose.Options{Name: name, Files: []string{fixture(file)}, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// fixture is the path of a test stack: this package's testdata, or the
// stacks it shares with swarmspec's conversion tests.
func fixture(file string) string {
	if _, err := os.Stat(filepath.Join("testdata", file)); err == nil {
		return filepath.Join("testdata", file)
	}
	return filepath.Join("..", "swarmspec", "testdata", file)
}

func testOptions(out *bytes.Buffer) Options {
	return Options{
		ResolveImage: plan.ResolveAlways, Parallel: 4, KeepVersions: 2, Wait: true, Timeout: time.Minute,
		Auth: func(string) (string, error) { return "ENCODED-CREDENTIALS", nil },
		Out:  out, WaitInterval: time.Millisecond, Settle: time.Nanosecond,
	}
}

func engineWithImage() *fakeEngine {
	f := newFakeEngine()
	f.images[testImage] = testDigest
	return f
}

func TestDeployTwiceSecondRunWritesNothing(t *testing.T) {
	for _, file := range []string{"rich.yml", "simple.yml"} {
		t.Run(file, func(t *testing.T) { testDeployTwice(t, file) })
	}
}

func testDeployTwice(t *testing.T, file string) {
	f := engineWithImage()
	var out bytes.Buffer
	in := loadInput(t, "demo", file, nil)
	res, err := Deploy(context.Background(), f, in, testOptions(&out))
	if err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out.String())
	}
	if res.Outcome != OutcomeConverged {
		t.Fatalf("outcome = %q", res.Outcome)
	}
	for _, s := range f.services {
		if got, want := s.Spec.TaskTemplate.ContainerSpec.Image, testImage+"@"+testDigest.String(); got != want {
			t.Errorf("image = %q, want digest-pinned %q", got, want)
		}
	}
	if web := f.serviceByName("demo_web"); web != nil {
		refs := web.Spec.TaskTemplate.ContainerSpec.Secrets
		if len(refs) != 1 || refs[0].SecretID == "" || strings.HasPrefix(refs[0].SecretID, swarmspec.PendingIDPrefix) {
			t.Errorf("secret references lack real IDs: %+v", refs)
		}
	}
	before := len(f.writes())
	res, err = Deploy(context.Background(), f, in, testOptions(&out))
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if extra := f.writes()[before:]; len(extra) != 0 {
		t.Errorf("no-op redeploy wrote %v", extra)
	}
	if res.Outcome != OutcomeNoChanges {
		t.Errorf("outcome = %q, want %q", res.Outcome, OutcomeNoChanges)
	}
	// The image is resolved once per distinct image, not once per service.
	if n := f.countCalls("DistributionInspect "); n != 2 {
		t.Errorf("DistributionInspect called %d times over two deploys of 2 services sharing one image, want 2", n)
	}
}

func TestApplyOrderNetworksThenObjectsThenServices(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "rich.yml", nil), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	rank := map[string]int{"NetworkCreate": 0, "ConfigCreate": 1, "SecretCreate": 1, "ServiceCreate": 2}
	last := -1
	for _, w := range f.writes() {
		m, _, _ := strings.Cut(w, " ")
		r := rank[m]
		if r < last {
			t.Fatalf("write %q after a later phase; writes: %v", w, f.writes())
		}
		last = r
	}
	if got := len(f.writes()); got != 6 { // 2 networks, 1 config, 1 secret, 2 services
		t.Errorf("writes = %v, want 6", f.writes())
	}
}

func TestApplyRunsServiceWritesInParallel(t *testing.T) {
	f := engineWithImage()
	f.gate, f.gateN = make(chan struct{}), 3
	d := &swarmspec.Desired{Namespace: "par", Networks: nil, Configs: map[string]swarm.ConfigSpec{}, Secrets: map[string]swarm.SecretSpec{}, Services: map[string]swarm.ServiceSpec{}}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		d.Services["par_"+n] = swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "par_" + n}, TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: testImage}}}
	}
	p, err := plan.Make(d, &plan.Live{}, plan.Options{ResolveImage: plan.ResolveNever})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Apply(ctx, f, p, ApplyOptions{Parallel: 3}); err != nil {
		t.Fatal(err)
	}
	if f.peakN != 3 {
		t.Errorf("peak concurrent service writes = %d, want exactly --parallel 3", f.peakN)
	}
	if got := len(f.writes()); got != 6 {
		t.Errorf("writes = %d, want 6", got)
	}
}

func TestPlanDiffRedactsEnvValues(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	f.images["127.0.0.1:5000/svc:2"] = digest.Digest("sha256:" + strings.Repeat("cd", 32))
	in := loadInput(t, "demo", "simple_v2.yml", map[string]string{"IMAGE": "127.0.0.1:5000/svc:2", "API_TOKEN": "tok-very-secret"})
	prep, err := Prepare(context.Background(), f, in, testOptions(&out))
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	if err := prep.Plan.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := json.NewEncoder(&js).Encode(prep.Plan); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{text.String(), js.String()} {
		if strings.Contains(s, "tok-very-secret") || strings.Contains(s, "VERSION=2") {
			t.Errorf("plan shows an env value:\n%s", s)
		}
	}
	golden.Assert(t, text.Bytes(), filepath.Join("testdata", "simple_v2.plan.golden"))
	if !prep.Plan.HasChanges() {
		t.Error("plan has no changes")
	}
	if writes := f.writes(); slices.ContainsFunc(writes, func(w string) bool { return strings.Contains(w, "svc:2") }) {
		t.Errorf("plan wrote: %v", writes)
	}
}

func TestPreflightReportsAllProblemsAndWritesNothing(t *testing.T) {
	f := newFakeEngine() // knows no image
	var out bytes.Buffer
	_, err := Deploy(context.Background(), f, loadInput(t, "demo", "external.yml", nil), testOptions(&out))
	if exitCode(err) != 1 {
		t.Fatalf("exit code = %d (%v), want 1", exitCode(err), err)
	}
	for _, want := range []string{`network "shared_net"`, `secret "shared_secret"`, `config "shared_config"`, `image "127.0.0.1:5000/svc:1"`, "nothing was written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("preflight failure wrote %v", w)
	}
}

func TestNoLeaderFailsBeforeAnyWrite(t *testing.T) {
	f := engineWithImage()
	f.noLeader = true
	var out bytes.Buffer
	_, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out))
	if err == nil || !strings.Contains(err.Error(), "quorum") || !strings.Contains(err.Error(), "unreachable managers") {
		t.Fatalf("err = %v, want a quorum error naming unreachable managers", err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("wrote %v without a leader", w)
	}
}

// TestLastToleratedFailureWarns deploys to three managers: with all up there
// is no warning; with one unreachable the deploy goes ahead and warns that no
// further manager may fail.
func TestLastToleratedFailureWarns(t *testing.T) {
	manager := func(id string, leader bool, r swarm.Reachability) swarm.Node {
		return swarm.Node{ID: id, Description: swarm.NodeDescription{Hostname: id},
			ManagerStatus: &swarm.ManagerStatus{Leader: leader, Reachability: r, Addr: id + ":2377"}}
	}
	for _, tc := range []struct {
		third swarm.Reachability
		warn  bool
	}{{swarm.ReachabilityReachable, false}, {swarm.ReachabilityUnreachable, true}} {
		f := engineWithImage()
		f.nodes = []swarm.Node{manager("m1", true, swarm.ReachabilityReachable), manager("m2", false, swarm.ReachabilityReachable), manager("m3", false, tc.third)}
		var out bytes.Buffer
		if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out)); err != nil {
			t.Fatalf("third manager %s: deploy failed: %v", tc.third, err)
		}
		warned := strings.Contains(out.String(), "no manager can fail without losing quorum")
		if warned != tc.warn {
			t.Errorf("third manager %s: warned = %v, want %v\n%s", tc.third, warned, tc.warn, out.String())
		}
		if len(f.writes()) == 0 {
			t.Errorf("third manager %s: nothing was deployed", tc.third)
		}
	}
}

// TestOneManagerSwarmIsNotWarnedAbout: a one-manager swarm is a normal
// choice; deploy says nothing about it, and Prepare reports the count for
// plan to explain.
func TestOneManagerSwarmIsNotWarnedAbout(t *testing.T) {
	f := engineWithImage()
	f.nodes = []swarm.Node{{ID: "m1", Description: swarm.NodeDescription{Hostname: "m1"},
		ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "m1:2377"}}}
	var out bytes.Buffer
	prep, err := Prepare(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out))
	if err != nil {
		t.Fatal(err)
	}
	if prep.Managers != 1 {
		t.Errorf("Managers = %d, want 1", prep.Managers)
	}
	if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "warning") {
		t.Errorf("a one-manager swarm was warned about:\n%s", out.String())
	}
}

func TestNotAManager(t *testing.T) {
	f := engineWithImage()
	f.notSwarm = true
	var out bytes.Buffer
	_, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out))
	if err == nil || !strings.Contains(err.Error(), "swarm init") {
		t.Fatalf("err = %v, want advice to init a swarm", err)
	}
}

// deployV1 deploys simple.yml and returns the engine, ready for a v2 deploy.
func deployV1(t *testing.T) *fakeEngine {
	t.Helper()
	f := engineWithImage()
	f.images["127.0.0.1:5000/svc:2"] = digest.Digest("sha256:" + strings.Repeat("cd", 32))
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	return f
}

func v2Input(t *testing.T) *compose.Stack {
	return loadInput(t, "demo", "simple_v2.yml", map[string]string{"IMAGE": "127.0.0.1:5000/svc:2", "API_TOKEN": "tok"})
}

func TestEngineRejectsServiceMidApply(t *testing.T) {
	for _, atomic := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "atomic"}[atomic], func(t *testing.T) {
			f := deployV1(t)
			v1 := f.serviceByName("demo_api").Spec
			f.fail["ServiceCreate demo_extra"] = errors.New("rpc error: code = InvalidArgument desc = port 18090 is already in use")
			var out bytes.Buffer
			o := testOptions(&out)
			o.Atomic = atomic
			o.Parallel = 1 // deterministic: api (update) is written before extra (create) fails
			res, err := Deploy(context.Background(), f, v2Input(t), o)
			if exitCode(err) != 1 {
				t.Fatalf("exit code = %d (%v), want 1", exitCode(err), err)
			}
			if !strings.Contains(err.Error(), `create service "demo_extra"`) {
				t.Errorf("error does not name the service: %v", err)
			}
			api := f.serviceByName("demo_api").Spec
			restored := plan.SpecsEqual(api, v1)
			if atomic && !restored {
				t.Errorf("--atomic left demo_api updated: %v", plan.DiffServiceSpecs(v1, api))
			}
			if !atomic && restored {
				t.Error("without --atomic demo_api should keep its update")
			}
			if atomic {
				if len(res.Undone) == 0 || !strings.Contains(err.Error(), "atomic") {
					t.Errorf("atomic undo not reported: %v / %v", res.Undone, err)
				}
				if f.serviceByName("demo_extra") != nil {
					t.Error("created service left behind")
				}
				if n := len(f.configs); n != 0 {
					t.Errorf("configs created by the failed run left behind: %d", n)
				}
			}
		})
	}
}

// TestSwarmEndedUpdateExits3: an update swarm rolled back, or paused
// (update_config's failure_action pause), ends the wait at once, exit 3,
// with swarm's message and the task error. --atomic removes what the run
// created and restores a paused service (a rolled-back one swarm restored).
func TestSwarmEndedUpdateExits3(t *testing.T) {
	for _, c := range []struct {
		behaviour string
		want      []string
	}{
		{"rollback", []string{"demo_api", "rolled back", "non-zero exit"}},
		{"paused", []string{"demo_api", "paused", "update paused due to failure", "non-zero exit"}},
	} {
		for _, atomic := range []bool{false, true} {
			f := deployV1(t)
			before := f.serviceByName("demo_api").Spec
			f.behaviour["demo_api"] = c.behaviour
			var out bytes.Buffer
			o := testOptions(&out)
			o.Atomic = atomic
			res, err := Deploy(context.Background(), f, v2Input(t), o)
			if !notConverged(err) {
				t.Fatalf("%s, atomic %v: exit code = %d (%v), want 3", c.behaviour, atomic, exitCode(err), err)
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s, atomic %v: error does not mention %q: %v", c.behaviour, atomic, want, err)
				}
			}
			if res.Outcome != OutcomeNotConverged {
				t.Errorf("%s, atomic %v: outcome = %q", c.behaviour, atomic, res.Outcome)
			}
			if atomic && f.serviceByName("demo_extra") != nil {
				t.Errorf("%s: --atomic left the created service", c.behaviour)
			}
			restored := reflect.DeepEqual(f.serviceByName("demo_api").Spec, before)
			if want := atomic || c.behaviour == "rollback"; restored != want {
				t.Errorf("%s, atomic %v: demo_api back on its spec before the run: %v, want %v", c.behaviour, atomic, restored, want)
			}
		}
	}
}

func TestStuckServiceTimesOutAndAtomicRemovesIt(t *testing.T) {
	f := deployV1(t)
	f.behaviour["demo_extra"] = "stuck"
	var out bytes.Buffer
	o := testOptions(&out)
	o.Atomic, o.Timeout = true, 50*time.Millisecond
	_, err := Deploy(context.Background(), f, v2Input(t), o)
	if !notConverged(err) || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "health check never passed") {
		t.Fatalf("err = %v (exit %d), want exit 3 timed out with the task error", err, exitCode(err))
	}
	if f.serviceByName("demo_extra") != nil {
		t.Error("--atomic left the service that never converged")
	}
}

// TestUnschedulableServiceExits3AfterThePendingTimeout: a task swarm cannot
// place fails the deploy after --pending-timeout (virtual time here), not
// --timeout, naming the service, the scheduler's error and the nodes.
func TestUnschedulableServiceExits3AfterThePendingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := engineWithImage()
		f.behaviour["demo_api"] = "unschedulable"
		var out bytes.Buffer
		o := testOptions(&out)
		o.WaitInterval, o.Timeout, o.PendingTimeout = 0, 5*time.Minute, 0 // the defaults: 250ms polls, 60s pending
		start := time.Now()
		_, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), o)
		if !notConverged(err) {
			t.Fatalf("err = %v, want exit 3", err)
		}
		for _, want := range []string{"service demo_api unschedulable", "no suitable node (host-mode port already in use on 1 node)", "nodes swarm considered: node1 (manager, ready, active)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not say %q:\n%v", want, err)
			}
		}
		if took := time.Since(start); took > DefaultPendingTimeout+time.Second {
			t.Errorf("failed after %s, want about the %s pending timeout", took, DefaultPendingTimeout)
		}
	})
}

func TestCanceledWaitWithAtomicRestores(t *testing.T) {
	f := deployV1(t)
	f.behaviour["demo_extra"] = "stuck"
	v1 := f.serviceByName("demo_api").Spec
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	o := testOptions(&out)
	o.Atomic = true
	o.Progress = &cancelOnStatus{cancel: cancel, service: "demo_extra"}
	_, err := Deploy(ctx, f, v2Input(t), o)
	if exitCode(err) == 0 || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("err = %v, want a non-zero canceled deploy", err)
	}
	if !plan.SpecsEqual(f.serviceByName("demo_api").Spec, v1) {
		t.Error("Ctrl-C with --atomic did not restore demo_api")
	}
	if f.serviceByName("demo_extra") != nil {
		t.Error("Ctrl-C with --atomic left demo_extra")
	}
}

// cancelOnStatus cancels a context once the wait reports the service as
// not ready: Ctrl-C during the wait.
type cancelOnStatus struct {
	cancel  func()
	service string
}

func (c *cancelOnStatus) Waiting([]string) {}
func (c *cancelOnStatus) Status(s ServiceStatus) {
	if s.Name == c.service && s.Ready == 0 {
		c.cancel()
	}
}
func (c *cancelOnStatus) Finished(ServiceOutcome) {}

func TestCredentialsNeverInOutput(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	o := testOptions(&out)
	o.WithRegistryAuth = true
	res, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), o)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	if strings.Contains(out.String()+string(js), "ENCODED-CREDENTIALS") {
		t.Error("credentials leaked into output or JSON")
	}
	if got := f.authSeen[testImage]; len(got) != 1 || got[0] != "ENCODED-CREDENTIALS" {
		t.Errorf("registry lookups got auth %q, want the encoded credentials once", got)
	}
}

func TestPruneRemovesServicesAndOldVersions(t *testing.T) {
	f := deployV1(t)
	var out bytes.Buffer
	o := testOptions(&out)
	// Three versions of motd, one per deploy.
	for _, msg := range []string{"a", "b", "c"} {
		st := loadInput(t, "demo", "simple_v2.yml", map[string]string{"IMAGE": "127.0.0.1:5000/svc:2", "API_TOKEN": "tok", "MOTD": msg})
		if _, err := Deploy(context.Background(), f, st, o); err != nil {
			t.Fatal(err)
		}
	}
	motd := 0
	for _, c := range f.configs {
		if c.Spec.Labels[compose.LabelKey] == "motd" {
			motd++
		}
	}
	if motd != 3 {
		t.Errorf("motd versions = %d, want 3 (prune was off)", motd)
	}
	o.Prune, o.KeepVersions = true, 2
	res, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), o)
	if err != nil {
		t.Fatal(err)
	}
	if f.serviceByName("demo_extra") != nil {
		t.Error("--prune kept a service no longer in the file")
	}
	motd = 0
	for _, c := range f.configs {
		if c.Spec.Labels[compose.LabelKey] == "motd" {
			motd++
		}
	}
	if motd != 2 {
		t.Errorf("after prune motd versions = %d, want --keep-versions 2; result %+v", motd, res.Changes)
	}
}

func TestRollbackUsesPreviousSpec(t *testing.T) {
	f := deployV1(t)
	v1 := f.serviceByName("demo_api").Spec
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), f, v2Input(t), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	res, err := Rollback(context.Background(), f, "demo", RollbackOptions{Services: []string{"api"}, Wait: true, Out: &out, WaitInterval: time.Millisecond, Settle: time.Nanosecond})
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if !plan.SpecsEqual(f.serviceByName("demo_api").Spec, v1) {
		t.Error("demo_api is not back on its previous spec")
	}
	if len(res.Services) != 1 || res.Services[0].Outcome != OutcomeConverged {
		t.Errorf("result = %+v", res.Services)
	}
	if _, err := Rollback(context.Background(), f, "demo", RollbackOptions{Services: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `"demo_nope" is not part of stack`) {
		t.Errorf("unknown service: err = %v", err)
	}
}

func TestAssess(t *testing.T) {
	two := uint64(2)
	running := swarm.Task{DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateRunning}}
	complete := swarm.Task{DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: swarm.TaskStateComplete}}
	failed := swarm.Task{DesiredState: swarm.TaskStateShutdown, Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)"}}
	one, minute := uint64(1), time.Minute
	svc := func(mod func(*swarm.Service)) swarm.Service {
		s := swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}}}
		mod(&s)
		return s
	}
	slot := func(t swarm.Task, n int) swarm.Task { t.Slot = n; return t }
	version := func(t swarm.Task, index uint64) swarm.Task { t.Version.Index = index; return t }
	cases := []struct {
		name  string
		svc   swarm.Service
		tasks []swarm.Task
		want  waitState
	}{
		{"all running", svc(func(*swarm.Service) {}), []swarm.Task{slot(running, 1), slot(running, 2)}, stateConverged},
		{"one of two", svc(func(*swarm.Service) {}), []swarm.Task{slot(running, 1)}, stateProgressing},
		{"updating", svc(func(s *swarm.Service) { s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating} }), []swarm.Task{slot(running, 1), slot(running, 2)}, stateProgressing},
		{"update completed: swarm's monitor watched", svc(func(s *swarm.Service) { s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted} }), []swarm.Task{slot(running, 1), slot(running, 2)}, stateDone},
		{"update back to the spec before: its task, still stopping, reported last", svc(func(s *swarm.Service) { s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted} }),
			[]swarm.Task{slot(running, 2), version(slot(running, 1), 157), version(slot(swarm.Task{DesiredState: swarm.TaskStateShutdown, Status: swarm.TaskStatus{State: swarm.TaskStateShutdown}}, 1), 160)}, stateDone},
		{"update completed, a task restarting", svc(func(s *swarm.Service) { s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted} }), []swarm.Task{slot(running, 1)}, stateProgressing},
		{"rolled back", svc(func(s *swarm.Service) {
			s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted}
		}), nil, stateRolledBack},
		{"paused", svc(func(s *swarm.Service) { s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused} }), nil, statePaused},
		{"one-shot completed", svc(func(s *swarm.Service) {
			s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
		}), []swarm.Task{slot(complete, 1), slot(complete, 2)}, stateDone},
		{"one-shot still running settles", svc(func(s *swarm.Service) {
			s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
		}), []swarm.Task{slot(complete, 1), slot(running, 2)}, stateConverged},
		{"completed is not running", svc(func(*swarm.Service) {}), []swarm.Task{slot(complete, 1), slot(complete, 2)}, stateProgressing},
		{"one-shot failed for good", svc(func(s *swarm.Service) {
			s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionNone}
		}), []swarm.Task{slot(complete, 1), slot(swarm.Task{DesiredState: swarm.TaskStateShutdown, Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "exit 1"}}, 2)}, stateFailed},
		{"failed task is retried", svc(func(s *swarm.Service) {
			s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure}
		}), []swarm.Task{slot(complete, 1), slot(swarm.Task{DesiredState: swarm.TaskStateShutdown, Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "exit 1"}}, 2)}, stateProgressing},
		{"max_attempts used up", svc(func(s *swarm.Service) {
			s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &one}
		}), []swarm.Task{slot(running, 1), slot(failed, 2), slot(failed, 2)}, stateFailed},
		{"max_attempts left: the retry runs", svc(func(s *swarm.Service) {
			s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &one}
		}), []swarm.Task{slot(running, 1), version(slot(failed, 2), 1), version(slot(running, 2), 2)}, stateConverged},
		{"max_attempts within a window: swarm tries again later", svc(func(s *swarm.Service) {
			s.Spec.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure, MaxAttempts: &one, Window: &minute}
		}), []swarm.Task{slot(running, 1), slot(failed, 2), slot(failed, 2)}, stateProgressing},
		{"a job's earlier run is not this one", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}}, JobStatus: &swarm.JobStatus{JobIteration: swarm.Version{Index: 9}}},
			[]swarm.Task{func() swarm.Task { t := slot(complete, 0); t.JobIteration = &swarm.Version{Index: 5}; return t }()}, stateProgressing},
		{"a job's run completed", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{}}}, JobStatus: &swarm.JobStatus{JobIteration: swarm.Version{Index: 9}}},
			[]swarm.Task{func() swarm.Task { t := slot(complete, 0); t.JobIteration = &swarm.Version{Index: 9}; return t }()}, stateDone},
		{"global, nothing placed yet", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}}, nil, stateProgressing},
		{"global running", swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}}, []swarm.Task{func() swarm.Task { t := running; t.NodeID = "n1"; return t }()}, stateConverged},
	}
	for _, c := range cases {
		if got := assess(c.svc, c.tasks).state; got != c.want {
			t.Errorf("%s: state = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestDiffIgnoresEngineDefaults(t *testing.T) {
	d, err := swarmspec.Convert(context.Background(), loadInput(t, "demo", "rich.yml", nil), swarmspec.ObjectIDs{})
	if err != nil {
		t.Fatal(err)
	}
	spec := d.Services["demo_web"]
	if diff := plan.DiffServiceSpecs(engineDefaults(spec), spec); len(diff) != 0 {
		t.Errorf("engine defaults show as changes: %v", diff)
	}
	changed := spec
	r := uint64(5)
	changed.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &r}}
	diff := plan.DiffServiceSpecs(spec, changed)
	if len(diff) != 1 || diff[0].Field != "replicas" || diff[0].Old != "1" || diff[0].New != "5" {
		t.Errorf("diff = %+v, want replicas 1 -> 5", diff)
	}
}

func TestResolveImageModes(t *testing.T) {
	for _, mode := range []plan.ResolveMode{plan.ResolveChanged, plan.ResolveNever} {
		t.Run(string(mode), func(t *testing.T) {
			f := engineWithImage()
			var out bytes.Buffer
			o := testOptions(&out)
			if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), o); err != nil {
				t.Fatal(err)
			}
			before := f.countCalls("DistributionInspect ")
			o.ResolveImage = mode
			res, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), o)
			if err != nil {
				t.Fatal(err)
			}
			if f.countCalls("DistributionInspect ") != before {
				t.Errorf("--resolve-image %s asked the registry about an unchanged image", mode)
			}
			if res.Outcome != OutcomeNoChanges {
				t.Errorf("outcome = %q: the pinned digest must be kept, not dropped", res.Outcome)
			}
			// A new tag: changed resolves it, never writes the tag as is.
			f.images["127.0.0.1:5000/svc:2"] = digest.Digest("sha256:" + strings.Repeat("cd", 32))
			if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", map[string]string{"IMAGE": "127.0.0.1:5000/svc:2"}), o); err != nil {
				t.Fatal(err)
			}
			want := map[plan.ResolveMode]string{plan.ResolveChanged: "127.0.0.1:5000/svc:2@sha256:" + strings.Repeat("cd", 32), plan.ResolveNever: "127.0.0.1:5000/svc:2"}[mode]
			if got := f.serviceByName("demo_api").Spec.TaskTemplate.ContainerSpec.Image; got != want {
				t.Errorf("image = %q, want %q", got, want)
			}
		})
	}
}

func TestPrefetchedImagesCountOnlyWhenUsed(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	o := testOptions(&out)
	o.PrefetchImages = []string{testImage, "127.0.0.1:5000/overridden:1"} // the second is not in the loaded stack
	res, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), o)
	if err != nil {
		t.Fatalf("an unused prefetched image that does not exist failed the deploy: %v", err)
	}
	if res.Outcome != OutcomeConverged {
		t.Errorf("outcome = %q", res.Outcome)
	}
	if n := f.countCalls("DistributionInspect " + testImage); n != 1 {
		t.Errorf("%s looked up %d times, want once (prefetched, then reused)", testImage, n)
	}
}

// TestLookupsRunWhileTheStackLoads: with --resolve-image always, a
// prefetched image's registry lookup starts before the stack has loaded,
// and is not made again after it.
func TestLookupsRunWhileTheStackLoads(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	o := testOptions(&out)
	o.PrefetchImages = []string{testImage}
	lookups := func() int { return f.countCalls("DistributionInspect " + testImage) }
	st := loadInput(t, "demo", "simple.yml", nil)
	duringLoad := 0
	source := func() (*compose.Stack, error) {
		// The load "takes" until the lookup has started, or a second.
		for deadline := time.Now().Add(time.Second); lookups() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		duringLoad = lookups()
		return st, nil
	}
	if _, err := PrepareFrom(context.Background(), f, "demo", source, o); err != nil {
		t.Fatal(err)
	}
	if duringLoad != 1 {
		t.Errorf("lookups started while the stack loaded: %d, want 1", duringLoad)
	}
	if n := lookups(); n != 1 {
		t.Errorf("%s looked up %d times, want once", testImage, n)
	}
}
