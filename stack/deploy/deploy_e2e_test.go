package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testbed"
	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// e2e is the real test environment of one end-to-end test.
type e2e struct {
	c         *client.Client
	reg       testenv.RegistryInfo
	dockerCfg string
	image     string   // registry/name:tag of the test service, pushed
	env       []string // what the docker CLI needs besides DOCKER_CONFIG to reach c
}

func newE2E(t testing.TB) *e2e {
	t.Helper()
	c := testenv.Engine(t)
	reg := testenv.Registry(t)
	cfg := testenv.DockerConfig(t)
	ref := fmt.Sprintf("%s/deckhand-deploy-%s:v1", reg.Addr, testenv.UniqueName(t))
	testenv.BuildImage(t, c, ref)
	testenv.PushImage(t, c, ref)
	return &e2e{c: c, reg: reg, dockerCfg: cfg, image: ref}
}

// options are deploy options for the real engine with the test credentials.
func (e *e2e) options(t testing.TB, out *bytes.Buffer) Options {
	t.Helper()
	auth := configAuth(t, e.dockerCfg)
	return Options{ResolveImage: plan.ResolveAlways, WithRegistryAuth: true, Parallel: 8, KeepVersions: 2,
		Wait: true, Timeout: 3 * time.Minute, Auth: auth, Out: out, WaitInterval: 500 * time.Millisecond, Settle: 2 * time.Second}
}

// configAuth reads registry credentials for images from the docker config
// in dir, as the command layer does.
func configAuth(t testing.TB, dir string) func(string) (string, error) {
	t.Helper()
	cfg, err := config.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return func(image string) (string, error) { return command.RetrieveAuthTokenFromImage(cfg, image) }
}

func (e *e2e) input(t testing.TB, stackName, file string, env map[string]string) *compose.Stack {
	t.Helper()
	all := map[string]string{"IMAGE": e.image}
	maps.Copy(all, env)
	return loadInput(t, stackName, file, all)
}

// removeStackOnCleanup removes everything labelled with the stack's namespace when t ends.
func removeStackOnCleanup(t testing.TB, c *client.Client, name string) {
	t.Cleanup(func() { removeStack(t, c, name) })
}

func removeStack(t testing.TB, c *client.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := func() client.Filters { return make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+name) }
	if s, err := c.ServiceList(ctx, client.ServiceListOptions{Filters: f()}); err == nil {
		for _, svc := range s.Items {
			_, _ = c.ServiceRemove(ctx, svc.ID, client.ServiceRemoveOptions{})
		}
	}
	// Objects go once the removed services' tasks are gone.
	for range 60 {
		left := 0
		if r, err := c.ConfigList(ctx, client.ConfigListOptions{Filters: f()}); err == nil {
			for _, o := range r.Items {
				if _, err := c.ConfigRemove(ctx, o.ID, client.ConfigRemoveOptions{}); err != nil {
					left++
				}
			}
		}
		if r, err := c.SecretList(ctx, client.SecretListOptions{Filters: f()}); err == nil {
			for _, o := range r.Items {
				if _, err := c.SecretRemove(ctx, o.ID, client.SecretRemoveOptions{}); err != nil {
					left++
				}
			}
		}
		if r, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f()}); err == nil {
			for _, o := range r.Items {
				if _, err := c.NetworkRemove(ctx, o.ID, client.NetworkRemoveOptions{}); err != nil {
					left++
				}
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(time.Second)
	}
	t.Logf("cleanup: objects of stack %s are still in use", name)
}

// dockerCLI runs the current docker client (the peer deckhand replaces)
// with the test's docker config.
func (e *e2e) dockerCLI(t testing.TB, env map[string]string, args ...string) (string, error) {
	t.Helper()
	bin := "/usr/local/bin/docker"
	if _, err := os.Stat(bin); err != nil {
		testenv.Unavailable(t, "the docker %s client is not installed: %v", bin, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), e.env...), "DOCKER_CONFIG="+e.dockerCfg, "IMAGE="+e.image)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func stackServices(t testing.TB, c *client.Client, name string) map[string]swarm.Service {
	t.Helper()
	res, err := c.ServiceList(context.Background(), client.ServiceListOptions{Filters: make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+name)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]swarm.Service{}
	for _, s := range res.Items {
		out[strings.TrimPrefix(s.Spec.Name, name+"_")] = s
	}
	return out
}

var hashSuffix = regexp.MustCompile(`_[0-9a-f]{10}$`)

// comparable strips what legitimately differs between two stacks deployed
// from the same file: the stack prefix, object IDs, and deckhand's content
// hash in config/secret names.
func comparableSpec(spec swarm.ServiceSpec, stackName string, netNames map[string]string) swarm.ServiceSpec {
	strip := func(s string) string { return hashSuffix.ReplaceAllString(strings.TrimPrefix(s, stackName+"_"), "") }
	spec = plan.NamedNetworks(spec, netNames)
	raw, _ := json.Marshal(spec)
	var out swarm.ServiceSpec
	_ = json.Unmarshal(raw, &out) // deep copy
	out.Name = strip(out.Name)
	out.Labels = maps.Clone(out.Labels)
	out.Labels[swarmspec.LabelNamespace] = "STACK"
	if cs := out.TaskTemplate.ContainerSpec; cs != nil {
		if cs.Labels != nil {
			cs.Labels[swarmspec.LabelNamespace] = "STACK"
		}
		for _, r := range cs.Configs {
			r.ConfigID, r.ConfigName = "", strip(r.ConfigName)
		}
		for _, r := range cs.Secrets {
			r.SecretID, r.SecretName = "", strip(r.SecretName)
		}
	}
	for i := range out.TaskTemplate.Networks {
		out.TaskTemplate.Networks[i].Target = strip(out.TaskTemplate.Networks[i].Target)
	}
	return out
}

func networkNames(t *testing.T, c *client.Client) map[string]string {
	t.Helper()
	res, err := c.NetworkList(context.Background(), client.NetworkListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range res.Items {
		out[n.ID] = n.Name
	}
	return out
}

// TestE2EFidelityWithDockerStackDeploy deploys rich stacks with docker stack
// deploy and with deckhand and compares every spec field by field, on
// Debian's Engine 20.10 (API 1.41).
func TestE2EFidelityWithDockerStackDeploy(t *testing.T) { testFidelity(t, newE2E(t)) }

// TestE2EFidelityOnTheCurrentEngine is the same comparison on the current
// engine (API 1.56), built from the Go module proxy by hack/testenv.sh.
func TestE2EFidelityOnTheCurrentEngine(t *testing.T) {
	testFidelity(t, newBedE2E(t, testbed.Options{Managers: 1, Engine: testbed.EngineCurrent, Registry: true}))
}

// newBedE2E is an e2e environment on a test bed's first node, the test image
// pulled through the bed's registry relay with credentials for it.
func newBedE2E(t *testing.T, opts testbed.Options) *e2e {
	t.Helper()
	host := newE2E(t)
	bed := testbed.New(t, opts)
	r := bed.Registry()
	return &e2e{c: bed.Client(0), reg: r, dockerCfg: testenv.DockerConfigFor(t, r), image: bed.ImageRef(host.image), env: bed.Env(0)}
}

func testFidelity(t *testing.T, e *e2e) {
	for _, file := range []string{"rich.yml", "simple.yml"} {
		t.Run(file, func(t *testing.T) {
			dockerStack, dhStack := testenv.UniqueName(t), testenv.UniqueName(t)
			removeStackOnCleanup(t, e.c, dockerStack)
			removeStackOnCleanup(t, e.c, dhStack)
			path := fixture(file)
			if out, err := e.dockerCLI(t, nil, "stack", "deploy", "--detach=true", "--with-registry-auth", "--resolve-image", "always", "-c", path, dockerStack); err != nil {
				t.Fatalf("docker stack deploy: %v\n%s", err, out)
			}
			dockerServices := stackServices(t, e.c, dockerStack)
			dockerNets := networkNames(t, e.c)
			dockerObjects := stackObjects(t, e.c, dockerStack)
			if want := map[string]int{"rich.yml": 4, "simple.yml": 1}[file]; len(dockerObjects) != want {
				t.Fatalf("docker made %d networks/configs/secrets, want %d: %v", len(dockerObjects), want, dockerObjects)
			}
			// The files publish fixed ports: free them before deckhand deploys.
			removeStack(t, e.c, dockerStack)

			var out bytes.Buffer
			o := e.options(t, &out)
			o.Wait = false
			if _, err := Deploy(context.Background(), e.c, e.input(t, dhStack, file, nil), o); err != nil {
				t.Fatalf("deckhand deploy: %v\n%s", err, out.String())
			}
			dhServices := stackServices(t, e.c, dhStack)
			dhNets := networkNames(t, e.c)
			if got, want := stackObjects(t, e.c, dhStack), dockerObjects; !maps.Equal(got, want) {
				t.Errorf("networks, configs and secrets differ from docker's:\n deckhand %v\n docker   %v", got, want)
			}
			if got, want := slices.Sorted(maps.Keys(dhServices)), slices.Sorted(maps.Keys(dockerServices)); !slices.Equal(got, want) {
				t.Fatalf("services: deckhand %v, docker %v", got, want)
			}
			for key, ds := range dockerServices {
				want := comparableSpec(ds.Spec, dockerStack, dockerNets)
				got := comparableSpec(dhServices[key].Spec, dhStack, dhNets)
				// deckhand labels its hash-named objects, not the services.
				if diff := plan.DiffServiceSpecs(want, got); len(diff) != 0 {
					t.Errorf("service %s differs from docker's:\n%s", key, formatDiff(diff))
				}
			}
			// docker's own commands work on the deckhand stack.
			if out, err := e.dockerCLI(t, nil, "stack", "services", dhStack); err != nil || !strings.Contains(out, dhStack+"_") {
				t.Errorf("docker stack services %s: %v\n%s", dhStack, err, out)
			}
			if out, err := e.dockerCLI(t, nil, "stack", "ls"); err != nil || !strings.Contains(out, dhStack) {
				t.Errorf("docker stack ls does not list %s: %v\n%s", dhStack, err, out)
			}
			if out, err := e.dockerCLI(t, nil, "stack", "rm", dhStack); err != nil {
				t.Errorf("docker stack rm %s: %v\n%s", dhStack, err, out)
			}
		})
	}
}

func formatDiff(diff []plan.FieldDiff) string {
	var b strings.Builder
	for _, d := range diff {
		fmt.Fprintf(&b, "  %s: docker %q, deckhand %q\n", d.Field, d.Old, d.New)
	}
	return b.String()
}

// TestE2ETakeOverDockerStack redeploys a stack docker created: no service
// is written and no task restarts.
func TestE2ETakeOverDockerStack(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	path := fixture("simple.yml")
	if out, err := e.dockerCLI(t, nil, "stack", "deploy", "--detach=false", "--with-registry-auth", "--resolve-image", "always", "-c", path, name); err != nil {
		t.Fatalf("docker stack deploy: %v\n%s", err, out)
	}
	tasksBefore := taskIDs(t, e.c, name)
	versions := map[string]uint64{}
	for k, s := range stackServices(t, e.c, name) {
		versions[k] = s.Version.Index
	}
	var out bytes.Buffer
	res, err := Deploy(context.Background(), e.c, e.input(t, name, "simple.yml", nil), e.options(t, &out))
	if err != nil {
		t.Fatalf("deckhand deploy over docker's stack: %v\n%s", err, out.String())
	}
	if res.Outcome != OutcomeNoChanges {
		t.Errorf("outcome = %q, want %q; changes %+v", res.Outcome, OutcomeNoChanges, res.Changes)
	}
	for k, s := range stackServices(t, e.c, name) {
		if s.Version.Index != versions[k] {
			t.Errorf("service %s was written (version %d -> %d)", k, versions[k], s.Version.Index)
		}
	}
	if after := taskIDs(t, e.c, name); !slices.Equal(after, tasksBefore) {
		t.Errorf("tasks changed: %v -> %v", tasksBefore, after)
	}
}

func taskIDs(t *testing.T, c *client.Client, name string) []string {
	t.Helper()
	var ids []string
	for _, s := range stackServices(t, c, name) {
		res, err := c.TaskList(context.Background(), client.TaskListOptions{Filters: make(client.Filters).Add("service", s.ID)})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range res.Items {
			ids = append(ids, task.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestE2ERegistryAuth: credentials from the docker config pin the digest and
// reach the swarm; a wrong password is a clear error and nothing is deployed.
func TestE2ERegistryAuth(t *testing.T) {
	e := newE2E(t)
	t.Run("right password", func(t *testing.T) {
		name := testenv.UniqueName(t)
		removeStackOnCleanup(t, e.c, name)
		var out bytes.Buffer
		res, err := Deploy(context.Background(), e.c, e.input(t, name, "simple.yml", nil), e.options(t, &out))
		if err != nil {
			t.Fatalf("deploy: %v\n%s", err, out.String())
		}
		if res.Outcome != OutcomeConverged {
			t.Errorf("outcome = %q", res.Outcome)
		}
		img := stackServices(t, e.c, name)["api"].Spec.TaskTemplate.ContainerSpec.Image
		if !strings.HasPrefix(img, e.image+"@sha256:") {
			t.Errorf("image %q is not pinned to a digest", img)
		}
		js, _ := json.Marshal(res)
		if strings.Contains(out.String()+string(js), e.reg.Password) || strings.Contains(out.String()+string(js), e.reg.EncodedAuth()) {
			t.Error("credentials in output")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		name := testenv.UniqueName(t)
		removeStackOnCleanup(t, e.c, name)
		bad := t.TempDir()
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, e.reg.Addr, "ZGVja2hhbmQ6d3Jvbmc=") // deckhand:wrong
		if err := os.WriteFile(filepath.Join(bad, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		o := e.options(t, &out)
		o.Auth = configAuth(t, bad)
		_, err := Deploy(context.Background(), e.c, e.input(t, name, "simple.yml", nil), o)
		if exitCode(err) != 1 || !strings.Contains(err.Error(), e.image) || !strings.Contains(err.Error(), "docker login") {
			t.Fatalf("err = %v, want exit 1 naming the image and docker login", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Error("the error shows the password")
		}
		if s := stackServices(t, e.c, name); len(s) != 0 {
			t.Errorf("deployed %d services with a wrong password", len(s))
		}
	})
	t.Run("missing image", func(t *testing.T) {
		name := testenv.UniqueName(t)
		removeStackOnCleanup(t, e.c, name)
		var out bytes.Buffer
		missing := strings.TrimSuffix(e.image, ":v1") + ":never-pushed"
		_, err := Deploy(context.Background(), e.c, e.input(t, name, "simple.yml", map[string]string{"IMAGE": missing}), e.options(t, &out))
		if exitCode(err) != 1 || !strings.Contains(err.Error(), missing) {
			t.Fatalf("err = %v, want exit 1 naming %s", err, missing)
		}
		if s := stackServices(t, e.c, name); len(s) != 0 {
			t.Errorf("deployed %d services with a missing image", len(s))
		}
	})
	t.Run("external network missing", func(t *testing.T) {
		name := testenv.UniqueName(t)
		var out bytes.Buffer
		_, err := Deploy(context.Background(), e.c, e.input(t, name, "external.yml", nil), e.options(t, &out))
		for _, want := range []string{`network "shared_net" is declared as external`, `secret "shared_secret"`, `config "shared_config"`} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to say %s", err, want)
			}
		}
	})
}

// TestE2EUnhealthyUpdateRollsBack: swarm rolls back an update whose
// healthcheck never passes; deckhand exits 3 naming the service.
func TestE2EUnhealthyUpdateRollsBack(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), e.c, e.input(t, name, "unhealthy.yml", nil), e.options(t, &out)); err != nil {
		t.Fatalf("v1: %v\n%s", err, out.String())
	}
	v1 := stackServices(t, e.c, name)["app"].Spec
	res, err := Deploy(context.Background(), e.c, e.input(t, name, "unhealthy.yml", map[string]string{"UNHEALTHY": "1"}), e.options(t, &out))
	if !notConverged(err) {
		t.Fatalf("err = %v (exit %d), want exit 3\n%s", err, exitCode(err), out.String())
	}
	if !strings.Contains(err.Error(), name+"_app") || !strings.Contains(err.Error(), "rolled back") {
		t.Errorf("error does not name the service and the rollback: %v", err)
	}
	if res.Outcome != OutcomeNotConverged {
		t.Errorf("outcome = %q", res.Outcome)
	}
	if now := stackServices(t, e.c, name)["app"].Spec; !plan.SpecsEqual(now, v1) {
		t.Errorf("service not back on v1: %v", plan.DiffServiceSpecs(v1, now))
	}
}

// TestE2ERejectedHalfway: the engine rejects one of two services of a
// parallel apply. Without --atomic the accepted one stays; with it, nothing does.
func TestE2ERejectedHalfway(t *testing.T) {
	e := newE2E(t)
	for _, atomic := range []bool{false, true} {
		t.Run(fmt.Sprintf("atomic=%v", atomic), func(t *testing.T) {
			name := testenv.UniqueName(t)
			removeStackOnCleanup(t, e.c, name)
			var out bytes.Buffer
			o := e.options(t, &out)
			o.Atomic = atomic
			res, err := Deploy(context.Background(), e.c, e.input(t, name, "conflict.yml", nil), o)
			if exitCode(err) != 1 || !strings.Contains(err.Error(), "create service") {
				t.Fatalf("err = %v (exit %d), want exit 1 naming the rejected service", err, exitCode(err))
			}
			left := stackServices(t, e.c, name)
			if atomic {
				if len(left) != 0 || len(res.Undone) == 0 {
					t.Errorf("--atomic left %d services (undone %v)", len(left), res.Undone)
				}
				if nets, _ := e.c.NetworkList(context.Background(), client.NetworkListOptions{Filters: make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+name)}); len(nets.Items) != 0 {
					t.Errorf("--atomic left %d networks", len(nets.Items))
				}
			} else if len(left) != 1 {
				t.Errorf("without --atomic %d services remain, want the 1 accepted", len(left))
			}
		})
	}
}

// TestE2ECtrlCDuringWaitWithAtomic cancels the deploy while it waits for a
// service that never becomes healthy: everything created is removed.
func TestE2ECtrlCDuringWaitWithAtomic(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	o := e.options(t, &out)
	o.Atomic = true
	o.Progress = &cancelOnStatus{cancel: cancel, service: name + "_app"}
	_, err := Deploy(ctx, e.c, e.input(t, name, "unhealthy.yml", map[string]string{"UNHEALTHY": "1"}), o)
	if exitCode(err) == 0 || !strings.Contains(err.Error(), "canceled") || !strings.Contains(err.Error(), "atomic") {
		t.Fatalf("err = %v, want a canceled, atomically undone deploy\n%s", err, out.String())
	}
	if s := stackServices(t, e.c, name); len(s) != 0 {
		t.Errorf("%d services left after Ctrl-C with --atomic", len(s))
	}
}

// TestE2ERollbackCommand deploys v1 then v2 and rolls back to v1.
func TestE2ERollbackCommand(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), e.c, e.input(t, name, "unhealthy.yml", nil), e.options(t, &out)); err != nil {
		t.Fatalf("v1: %v\n%s", err, out.String())
	}
	v1 := stackServices(t, e.c, name)["app"].Spec
	if _, err := Deploy(context.Background(), e.c, e.input(t, name, "unhealthy.yml", map[string]string{"VERSION": "2"}), e.options(t, &out)); err != nil {
		t.Fatalf("v2: %v\n%s", err, out.String())
	}
	res, err := Rollback(context.Background(), e.c, name, RollbackOptions{Services: []string{"app"}, Wait: true, Timeout: 3 * time.Minute, Out: &out, WaitInterval: 500 * time.Millisecond, Settle: time.Second})
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, out.String())
	}
	if now := stackServices(t, e.c, name)["app"].Spec; !plan.SpecsEqual(now, v1) {
		t.Errorf("not back on v1: %v", plan.DiffServiceSpecs(v1, now))
	}
	if res.Outcome != OutcomeConverged {
		t.Errorf("outcome = %q", res.Outcome)
	}
}

// TestE2EOneShotServiceDoesNotHang: a service whose task completes (restart
// condition none) counts as converged.
func TestE2EOneShotServiceDoesNotHang(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	var out bytes.Buffer
	res, err := Deploy(context.Background(), e.c, e.input(t, name, "oneshot.yml", nil), e.options(t, &out))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if res.Outcome != OutcomeConverged || len(res.Services) != 1 || res.Services[0].Outcome != OutcomeConverged {
		t.Errorf("result = %+v", res)
	}
	// A one-shot task that fails is final: deploy says so without waiting for the timeout.
	failing := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, failing)
	_, err = Deploy(context.Background(), e.c, e.input(t, failing, "oneshot.yml", map[string]string{"ARG": "-no-such-flag"}), e.options(t, &out))
	if !notConverged(err) || !strings.Contains(err.Error(), "restart condition is none") {
		t.Errorf("err = %v (exit %d), want exit 3 saying the task failed for good", err, exitCode(err))
	}
}

// TestE2EUnschedulableFailsAfterPendingTimeout: more replicas than nodes
// publish one host-mode port. Preflight warns before writing; the wait fails
// with exit 3 once the task left over has been pending for --pending-timeout
// (a few seconds here), long before --timeout, naming the scheduler's error
// and the nodes.
func TestE2EUnschedulableFailsAfterPendingTimeout(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	nodes, err := e.c.NodeList(context.Background(), client.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := e.options(t, &out)
	o.PendingTimeout = 3 * time.Second
	env := map[string]string{"PORT": fmt.Sprint(testenv.FreePort(t)), "REPLICAS": fmt.Sprint(len(nodes.Items) + 1)}
	res, err := Deploy(context.Background(), e.c, e.input(t, name, "hostport.yml", env), o)
	if !notConverged(err) {
		t.Fatalf("err = %v (exit %d), want exit 3\n%s", err, exitCode(err), out.String())
	}
	for _, want := range []string{name + "_web unschedulable", "host-mode port", "nodes swarm considered: " + nodes.Items[0].Description.Hostname} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "in host mode with") || !strings.Contains(out.String(), "warning: service "+name+"_web publishes") {
		t.Errorf("preflight did not warn about the host-mode port: warnings %q\n%s", res.Warnings, out.String())
	}
}

// stackObjects describes the stack's networks, configs and secrets by key
// (stack prefix and content hash stripped), leaving out the labels deckhand
// adds to hash-named objects.
func stackObjects(t testing.TB, c *client.Client, name string) map[string]string {
	t.Helper()
	ctx := context.Background()
	f := make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+name)
	strip := func(s string) string { return hashSuffix.ReplaceAllString(strings.TrimPrefix(s, name+"_"), "") }
	labels := func(l map[string]string) string {
		l = maps.Clone(l)
		delete(l, swarmspec.LabelNamespace)
		delete(l, compose.LabelStack)
		delete(l, compose.LabelKey)
		delete(l, compose.LabelHash)
		return fmt.Sprint(l)
	}
	out := map[string]string{}
	nets, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets.Items {
		n.Options = maps.Clone(n.Options)
		delete(n.Options, "com.docker.network.driver.overlay.vxlanid_list") // allocated per network
		out["network "+strip(n.Name)] = fmt.Sprintf("driver=%s scope=%s attachable=%v internal=%v options=%v labels=%s", n.Driver, n.Scope, n.Attachable, n.Internal, n.Options, labels(n.Labels))
	}
	cfgs, err := c.ConfigList(ctx, client.ConfigListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cfgs.Items {
		out["config "+strip(o.Spec.Name)] = fmt.Sprintf("data=%q templating=%v labels=%s", o.Spec.Data, o.Spec.Templating, labels(o.Spec.Labels))
	}
	secs, err := c.SecretList(ctx, client.SecretListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range secs.Items {
		out["secret "+strip(o.Spec.Name)] = fmt.Sprintf("driver=%v templating=%v labels=%s", o.Spec.Driver, o.Spec.Templating, labels(o.Spec.Labels))
	}
	return out
}
