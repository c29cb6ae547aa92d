package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testbed"
	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

// revisionsStack is the e2e stack at one step: web (and worker, until it
// is removed) from ${IMAGE}, a config from a file, and later a secret.
func revisionsStack(worker, secret bool) string {
	var b strings.Builder
	b.WriteString(`services:
  web:
    image: ${IMAGE}
    environment:
      VERSION: ${VERSION}
      UNHEALTHY: ${UNHEALTHY:-0}
    configs:
      - source: motd
        target: /etc/motd
`)
	if secret {
		b.WriteString("    secrets:\n      - api_key\n")
	}
	// A health check every half second, not every two, and a one-second
	// update monitor: deploy's wait settles in about two seconds, not seven.
	quick := "    healthcheck:\n      interval: 500ms\n    deploy:\n      update_config:\n        order: start-first\n        failure_action: pause\n        monitor: 1s\n"
	b.WriteString(quick)
	if worker {
		b.WriteString("  worker:\n    image: ${WORKER_IMAGE}\n" + quick)
	}
	b.WriteString("configs:\n  motd:\n    file: ./motd.txt\n")
	if secret {
		b.WriteString("secrets:\n  api_key:\n    file: ./key.txt\n")
	}
	return b.String()
}

// revisionsTarget is a swarm the revisions scenario runs on: the managers
// deckhand reaches, the client the test inspects the swarm with, and how the
// nodes reach the test registry.
type revisionsTarget struct {
	c *client.Client // inspects the swarm
	// hosts are the managers' engine addresses (DOCKER_HOST): deckhand
	// deploys through the first, rolls back to the latest through the last
	// and reads the history through every one.
	hosts []string
	// dockerConfig holds the credentials of the registry as the nodes reach it.
	dockerConfig string
	// imageRef turns a reference pushed to the test registry into the one
	// the nodes pull.
	imageRef func(hostRef string) string
	// shared: the swarm outlives the test, which removes its stacks at the end.
	shared bool
}

// TestRevisionsE2E runs the revisions scenario on the single-node swarm.
func TestRevisionsE2E(t *testing.T) {
	c := testenv.Engine(t)
	testRevisions(t, revisionsTarget{c: c, hosts: []string{c.DaemonHost()}, dockerConfig: testenv.DockerConfig(t),
		imageRef: func(ref string) string { return ref }, shared: true})
}

// TestRevisionsOnTheTestBedE2E runs the revisions scenario on a 3-manager
// test bed: deploys through node1, the rollback to the latest through node3,
// and node2 and node3 read the same history as node1.
func TestRevisionsOnTheTestBedE2E(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Managers: 3, Registry: true})
	hosts := make([]string, len(bed.Nodes))
	for i, n := range bed.Nodes {
		hosts[i] = n.Host
	}
	testRevisions(t, revisionsTarget{c: bed.Client(0), hosts: hosts, dockerConfig: testenv.DockerConfigFor(t, bed.Registry()),
		imageRef: bed.ImageRef})
}

// testRevisions drives revisions through the command line on target: five
// deploys with changes (image, env, config file, a removed service, a
// secret) after the first, then history, diff, status, rollback to revision
// 2 (every spec equal to revision 2's, field by field), rollback to the
// latest through another manager, the same history and no drift through
// every manager, and promotion to another stack from a revision and from a
// stack on another docker context.
func testRevisions(t *testing.T, target revisionsTarget) {
	host := testenv.Engine(t) // builds and pushes the images
	reg := testenv.Registry(t)
	c := target.c
	t.Setenv("DOCKER_CONFIG", target.dockerConfig)
	name, prod := testenv.UniqueName(t), testenv.UniqueName(t)
	if target.shared {
		t.Cleanup(func() { removeServices(t, c, name); removeServices(t, c, prod) })
	}
	repo := reg.Addr + "/deckhand-rev-" + name
	testenv.BuildImage(t, host, repo+":v1")
	v1 := target.imageRef(testenv.PushImage(t, host, repo+":v1"))
	// v2 differs from v1 by a label, so it has its own digest.
	buildDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(buildDir, "Dockerfile"), []byte("FROM "+repo+":v1\nLABEL deckhand.test.version=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	onHost := append(os.Environ(), "DOCKER_HOST="+host.DaemonHost())
	build := exec.Command("docker", "build", "-q", "-t", repo+":v2", buildDir)
	build.Env = append(onHost, "DOCKER_BUILDKIT=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build v2: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		rm := exec.Command("docker", "image", "rm", repo+":v2")
		rm.Env = onHost
		_ = rm.Run()
	})
	v2 := target.imageRef(testenv.PushImage(t, host, repo+":v2"))

	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// runOn runs deckhand with DOCKER_HOST set to manager i; run and
	// must, through the first.
	runOn := func(i int, args ...string) (int, string, string) {
		t.Setenv("DOCKER_HOST", target.hosts[i])
		var out, errw bytes.Buffer
		code := newCLI(strings.NewReader(""), &out, &errw).run(append([]string{"deckhand"}, args...))
		return code, out.String(), errw.String()
	}
	mustOn := func(i int, args ...string) string {
		t.Helper()
		code, out, errw := runOn(i, args...)
		if code != 0 {
			t.Fatalf("deckhand %s through %s: exit %d\n%s%s", strings.Join(args, " "), target.hosts[i], code, out, errw)
		}
		return out
	}
	run := func(args ...string) (int, string, string) { return runOn(0, args...) }
	must := func(args ...string) string { t.Helper(); return mustOn(0, args...) }
	deployed := func(args ...string) {
		t.Helper()
		out := must(append([]string{"deploy", "--with-registry-auth", "--timeout", "2m", "-c", file}, args...)...)
		if !strings.Contains(out, "; revision ") {
			t.Fatalf("deploy recorded no revision:\n%s", out)
		}
	}

	// Revision 1, then one change per deploy.
	t.Setenv("IMAGE", target.imageRef(repo+":v1"))
	t.Setenv("WORKER_IMAGE", target.imageRef(repo+":v1"))
	t.Setenv("VERSION", "1")
	write("motd.txt", "first motd\n")
	write("key.txt", "s3cr3t-value\n")
	write("stack.yml", revisionsStack(true, false))
	deployed(name)
	t.Setenv("IMAGE", target.imageRef(repo+":v2"))
	deployed(name) // 2: image
	t.Setenv("VERSION", "2")
	deployed(name) // 3: env
	write("motd.txt", "second motd\n")
	deployed(name) // 4: config file
	write("stack.yml", revisionsStack(false, false))
	deployed("--prune", name) // 5: a removed service
	write("stack.yml", revisionsStack(false, true))
	deployed(name) // 6: a secret
	if code, out, errw := run("deploy", "-c", file, name); code != 0 || strings.Contains(out, "revision") {
		t.Errorf("a no-op deploy: exit %d, and it must record nothing:\n%s%s", code, out, errw)
	}

	// history: six revisions, who, outcome and the images changed.
	out := must("history", name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "REVISION") {
		t.Fatalf("history is not a header and 6 revisions:\n%s", out)
	}
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, fmt.Sprint(i+1)+" ") || !strings.Contains(l, " converged ") {
			t.Errorf("history line %d: %q", i+1, l)
		}
	}
	if short := revision.ShortImage(v2); !strings.Contains(lines[2], "web="+short) || strings.Contains(lines[2], "worker=") {
		t.Errorf("revision 2 should list web=%s only: %q", short, lines[2])
	}
	if !strings.Contains(lines[5], "-worker") {
		t.Errorf("revision 5 should list the removed worker: %q", lines[5])
	}
	var h deploy.History
	if err := json.Unmarshal([]byte(must("history", "--format", "json", name)), &h); err != nil || len(h.Revisions) != 6 || h.Before != deploy.OriginCreated || h.Revisions[0].Who.User == "" {
		t.Errorf("history --format json: %v %+v", err, h)
	}

	// The records hold the specs, never a secret's value.
	recs, err := record.List(context.Background(), c, name, record.KindRevision)
	if err != nil || len(recs) != 6 {
		t.Fatalf("records: %d, %v", len(recs), err)
	}
	for _, r := range recs {
		var raw json.RawMessage
		if err := r.Decode(&raw); err != nil || bytes.Contains(raw, []byte("s3cr3t")) || !bytes.Contains(raw, []byte(`"services"`)) {
			t.Errorf("record %s: %v, or it holds the secret's value", r.Name, err)
		}
	}

	// diff: each step's change, env redacted, and no drift from 6.
	for _, step := range []struct{ from, to, want string }{
		{"1", "2", "image: " + v1 + " -> " + v2},
		{"2", "3", "env.VERSION: (redacted) -> (redacted)"},
		{"3", "4", "container.Configs[0]: " + name + "_motd_"},
		{"4", "5", "- service " + name + "_worker"},
		{"5", "6", "container.Secrets[0]: (none) -> " + name + "_api_key_"},
	} {
		out := must("diff", name, step.from, step.to)
		if !strings.Contains(out, step.want) {
			t.Errorf("diff %s %s does not say %q:\n%s", step.from, step.to, step.want, out)
		}
		if strings.Contains(out, "s3cr3t") || strings.Contains(out, "VERSION=") {
			t.Errorf("diff %s %s shows a value:\n%s", step.from, step.to, out)
		}
	}
	if code, out, _ := run("diff", "--detailed-exitcode", name, "6"); code != 0 {
		t.Errorf("diff 6 against the live stack: exit %d, want 0\n%s", code, out)
	}
	if out := must("status", name); !strings.Contains(out, ": converged") || !strings.Contains(out, "revision: 6 (deploy") {
		t.Errorf("status:\n%s", out)
	}

	// Rollback to 2: the worker, the first motd and no secret, field by field.
	out = must("rollback", "--to", "2", "--with-registry-auth", "--timeout", "2m", name)
	if !strings.Contains(out, "; revision 7") {
		t.Errorf("rollback --to 2 did not record revision 7:\n%s", out)
	}
	assertRunsRevision(t, c, name, 2)
	if code, out, _ := run("diff", "--detailed-exitcode", name, "2"); code != 0 {
		t.Errorf("diff 2 after rollback: exit %d\n%s", code, out)
	}
	if out := must("status", name); !strings.Contains(out, "revision: 7 (rollback to 2") {
		t.Errorf("status after rollback:\n%s", out)
	}
	// And back to the latest deploy, through the last manager.
	last := len(target.hosts) - 1
	mustOn(last, "rollback", "--to", "6", "--timeout", "2m", name)
	assertRunsRevision(t, c, name, 6)
	if out := must("history", name); !strings.Contains(out, "rollback to 6") || !strings.Contains(out, "\n8 ") {
		t.Errorf("history after two rollbacks:\n%s", out)
	}
	// Every other manager reads the same history, and no drift from 8.
	historyOn := func(i int) deploy.History {
		t.Helper()
		var h struct {
			deploy.History
			Target engineJSON `json:"target"`
		}
		out := mustOn(i, "history", "--format", "json", name)
		if err := json.Unmarshal([]byte(out), &h); err != nil || h.Target.Host != target.hosts[i] {
			t.Fatalf("history --format json through %s: %v, or read through %q\n%s", target.hosts[i], err, h.Target.Host, out)
		}
		return h.History
	}
	want := historyOn(0)
	if len(want.Revisions) != 8 {
		t.Errorf("history has %d revisions, want 8", len(want.Revisions))
	}
	for i := 1; i <= last; i++ {
		if got := historyOn(i); !reflect.DeepEqual(got, want) {
			t.Errorf("history through %s differs from the first manager's:\n got %+v\nwant %+v", target.hosts[i], got, want)
		}
		if code, out, errw := runOn(i, "diff", "--detailed-exitcode", name, "8"); code != 0 {
			t.Errorf("diff 8 against the live stack through %s: exit %d, want 0\n%s%s", target.hosts[i], code, out, errw)
		}
	}

	// Promotion: prod runs what revision 1 ran, although the file says v2;
	// then what the stack runs, read through another docker context.
	deployed("--images-from", name+"@1", prod)
	if img := serviceImage(t, c, prod+"_web"); img != v1 {
		t.Errorf("prod web runs %s after --images-from %s@1, want %s", img, name, v1)
	}
	ctxName := "deckhand-test-" + name
	if out, err := exec.Command("docker", "context", "create", ctxName, "--docker", "host="+c.DaemonHost()).CombinedOutput(); err != nil {
		t.Fatalf("docker context create: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "context", "rm", "-f", ctxName).Run() })
	deployed("--images-from-context", ctxName, "--images-from", name, prod)
	if img := serviceImage(t, c, prod+"_web"); img != v2 {
		t.Errorf("prod web runs %s after --images-from-context, want %s", img, v2)
	}
	if out := must("history", prod); !strings.Contains(out, "images from "+name+"@1") || !strings.Contains(out, "images from "+name+" on context "+ctxName) {
		t.Errorf("prod's history does not say where its images came from:\n%s", out)
	}

	// status exits 3 while a service does not converge.
	t.Setenv("UNHEALTHY", "1")
	must("deploy", "--detach", "-c", file, prod)
	if code, out, errw := run("status", prod); code != 3 || !strings.Contains(out, "NOT converged") {
		t.Errorf("status of a stack being updated: exit %d, want 3\n%s%s", code, out, errw)
	}
}

// assertRunsRevision checks that the live stack is revision n: the same
// services, each spec equal to the recorded one field by field.
func assertRunsRevision(t *testing.T, c *client.Client, stack string, n int) {
	t.Helper()
	ctx := context.Background()
	revs, err := deploy.Revisions(ctx, c, stack)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := revision.Find(revs, stack, n)
	if err != nil {
		t.Fatal(err)
	}
	live, err := deploy.LiveSpecs(ctx, c, stack)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(live)), slices.Sorted(maps.Keys(rev.Services)); !slices.Equal(got, want) {
		t.Fatalf("services %v, revision %d has %v", got, n, want)
	}
	for name, want := range rev.Services {
		if d := plan.DiffServiceSpecs(want, live[name]); len(d) > 0 {
			t.Errorf("service %s differs from revision %d: %+v", name, n, d)
		}
	}
}

func serviceImage(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	res, err := c.ServiceInspect(context.Background(), name, client.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Service.Spec.TaskTemplate.ContainerSpec.Image
}

// TestHistoryOfADockerStackE2E: a stack docker stack deploy made has no
// history; deckhand's first deploy that changes it is revision 1, and
// history says that what ran before is unknown.
func TestHistoryOfADockerStackE2E(t *testing.T) {
	c := testenv.Engine(t)
	t.Setenv("DOCKER_CONFIG", testenv.DockerConfig(t))
	name := testenv.UniqueName(t)
	t.Cleanup(func() { removeServices(t, c, name) })
	file := filepath.Join(t.TempDir(), "stack.yml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: 127.0.0.1:5000/never-pulled:1\n    environment:\n      VERSION: ${VERSION}\n    deploy:\n      replicas: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docker := exec.Command("docker", "stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", file, name)
	docker.Env = append(os.Environ(), "VERSION=1")
	if out, err := docker.CombinedOutput(); err != nil {
		t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}
	run := func(args ...string) (int, string) {
		var out, errw bytes.Buffer
		code := newCLI(strings.NewReader(""), &out, &errw).run(append([]string{"deckhand"}, args...))
		return code, out.String() + errw.String()
	}
	if code, out := run("history", name); code != 0 || !strings.Contains(out, "no recorded revisions") || !strings.Contains(out, "records revision 1") {
		t.Errorf("history of docker's stack: exit %d\n%s", code, out)
	}
	t.Setenv("VERSION", "2")
	if code, out := run("deploy", "--resolve-image", "never", "-c", file, name); code != 0 || !strings.Contains(out, "; revision 1") {
		t.Fatalf("deckhand's first deploy: exit %d\n%s", code, out)
	}
	if code, out := run("history", name); code != 0 || !strings.Contains(out, "\n1 ") || !strings.Contains(out, "what ran then is unknown") {
		t.Errorf("history after deckhand's first deploy: exit %d\n%s", code, out)
	}
}

// driftStack is web, placed on nodes of role ${ROLE} (manager by default;
// worker: no node of the test swarms, so its tasks stay pending), and idle,
// with no replicas.
const driftStack = `services:
  web:
    image: ${IMAGE}
    deploy:
      placement:
        constraints:
          - node.role == ${ROLE:-manager}
      update_config:
        order: start-first
        monitor: 1s
  idle:
    image: ${IMAGE}
    deploy:
      replicas: 0
`

// writeDriftStack writes driftStack to a new directory and returns the file.
func writeDriftStack(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "stack.yml")
	if err := os.WriteFile(file, []byte(driftStack), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestDiffFindsDriftE2E changes the live stack behind deckhand's back, as
// docker service scale would: diff against the live stack names the
// service and the field and exits 2, and status says the stack runs none
// of the recorded revisions. Without drift, diff exits 0.
func TestDiffFindsDriftE2E(t *testing.T) {
	c, name, _, run := cliStack(t)
	file := writeDriftStack(t)
	if code, out, errw := run("deploy", "--with-registry-auth", "--timeout", "2m", "-c", file, name); code != 0 || !strings.Contains(out, "; revision 1") {
		t.Fatalf("deploy: exit %d, want 0 and revision 1\n%s%s", code, out, errw)
	}
	if code, out, errw := run("diff", "--detailed-exitcode", name, "1"); code != 0 || !strings.Contains(out, "0 changed, 0 removed, 2 unchanged") {
		t.Errorf("diff 1 without drift: exit %d, want 0 and nothing changed\n%s%s", code, out, errw)
	}

	scaleService(t, c, name+"_web", 2)
	code, out, errw := run("diff", "--detailed-exitcode", name, "1")
	if code != 2 || !strings.Contains(out, "1 changed, 0 removed, 1 unchanged") || !strings.Contains(out, "~ service "+name+"_web\n      replicas: 1 -> 2\n") {
		t.Errorf("diff 1 after web was scaled to 2: exit %d, want 2 and web's replicas\n%s%s", code, out, errw)
	}
	if strings.Contains(out, name+"_idle") {
		t.Errorf("diff names idle, which nobody changed:\n%s", out)
	}
	var d deploy.StackDiff
	if _, out, _ := run("diff", "--format", "json", name, "1"); json.Unmarshal([]byte(out), &d) != nil || d.To != 0 || len(d.Changes) != 1 ||
		d.Changes[0].Name != name+"_web" || len(d.Changes[0].Diff) != 1 || d.Changes[0].Diff[0].Field != "replicas" {
		t.Errorf("diff --format json: %+v\n%s", d, out)
	}
	// Exit 3 while the second task starts, 0 once it runs; the revision
	// line is the same.
	code, out, errw = run("status", name)
	if code == 1 || !strings.Contains(out, "revision: the live stack matches none of the 1 recorded; latest 1 (deploy by ") || !strings.Contains(out, "see deckhand diff "+name+" 1") {
		t.Errorf("status after the drift: exit %d\n%s%s", code, out, errw)
	}
}

// TestRollbackToAtomicFailsE2E rolls back with --atomic to a revision that
// cannot converge now (its web may only run on a worker, and the swarm has
// none): exit 3 once --pending-timeout has passed, every service back on
// the spec it had before, the JSON result lists what the undo restored, and
// the run's revision records "rolled back".
func TestRollbackToAtomicFailsE2E(t *testing.T) {
	c, name, _, run := cliStack(t)
	file := writeDriftStack(t)
	t.Setenv("ROLE", "worker")
	if code, out, errw := run("deploy", "--detach", "--with-registry-auth", "-c", file, name); code != 0 || !strings.Contains(out, "; revision 1") {
		t.Fatalf("deploy of revision 1, detached: exit %d\n%s%s", code, out, errw)
	}
	t.Setenv("ROLE", "manager")
	if code, out, errw := run("deploy", "--with-registry-auth", "--timeout", "2m", "-c", file, name); code != 0 || !strings.Contains(out, "; revision 2") {
		t.Fatalf("deploy of revision 2: exit %d\n%s%s", code, out, errw)
	}
	assertRunsRevision(t, c, name, 2)

	// --timeout is far beyond --pending-timeout: a web that timed out
	// instead of being unschedulable means --pending-timeout was ignored.
	code, out, errw := run("rollback", "--to", "1", "--atomic", "--with-registry-auth", "--timeout", "45s", "--pending-timeout", "3s", "--format", "json", name)
	if code != 3 {
		t.Errorf("rollback --to 1 --atomic: exit %d, want 3\n%s%s", code, out, errw)
	}
	var res deploy.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("rollback --format json printed no JSON: %v\n%s%s", err, out, errw)
	}
	web := name + "_web"
	if res.Outcome != deploy.OutcomeNotConverged || res.Revision != 3 || len(res.Changes) != 1 || res.Changes[0].Name != web {
		t.Errorf("result: outcome %q, revision %d, changes %+v; want not converged, 3, web updated", res.Outcome, res.Revision, res.Changes)
	}
	if i := slices.IndexFunc(res.Services, func(s deploy.ServiceResult) bool { return s.Service == web }); i < 0 || res.Services[i].Outcome != deploy.OutcomeUnschedulable {
		t.Errorf("services %+v: want web unschedulable", res.Services)
	}
	if !slices.Contains(res.Undone, "restored service "+web) || !slices.Contains(res.Undone, "service "+web+" converged on its previous spec") {
		t.Errorf("atomic_undo %q: want web restored and converged", res.Undone)
	}
	assertRunsRevision(t, c, name, 2)

	var h deploy.History
	_, out, errw = run("history", "--format", "json", name)
	if err := json.Unmarshal([]byte(out), &h); err != nil || len(h.Revisions) != 3 {
		t.Fatalf("history --format json: %v, want 3 revisions\n%s%s", err, out, errw)
	}
	if r := h.Revisions[2]; r.Number != 3 || r.Action != revision.ActionRollback || r.From != "1" || r.Outcome != revision.OutcomeRolledBack {
		t.Errorf("revision 3: %d, %s to %q, %q; want a rollback to 1, rolled back", r.Number, r.Action, r.From, r.Outcome)
	}
	if code, out, errw := run("status", name); code != 0 || !strings.Contains(out, "revision: 2 (deploy by ") || !strings.Contains(out, "latest:   3 (rollback to 1 by ") {
		t.Errorf("status after the failed rollback: exit %d, want 0, running 2, latest 3\n%s%s", code, out, errw)
	}
}
