package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
)

// TestDeployCommandsE2E drives plan, deploy and rollback through the command
// line against the real swarm: exit codes, JSON output, redaction, and on
// the test engine's one-manager swarm a note from plan but no word from
// deploy.
func TestDeployCommandsE2E(t *testing.T) {
	c, name, image, run := cliStack(t)
	managers, err := c.NodeList(context.Background(), client.NodeListOptions{Filters: make(client.Filters).Add("role", "manager")})
	if err != nil || len(managers.Items) != 1 {
		t.Fatalf("the test engine's swarm must have one manager: %d (%v)", len(managers.Items), err)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: ${IMAGE}\n    environment:\n      VERSION: ${VERSION}\n      TOKEN: ${TOKEN}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOKEN", "super-secret-token")

	t.Setenv("VERSION", "1")
	if code, out, errw := run("plan", "--detailed-exitcode", "-c", file, name); code != 2 || !strings.Contains(out, "+ service "+name+"_web") || !strings.Contains(errw, "\nnote: "+oneManagerNote+"\n") {
		t.Fatalf("plan before deploy: exit %d, want 2 and the one-manager note\n%s%s", code, out, errw)
	}
	code, out, errw := run("deploy", "--with-registry-auth", "--timings", "--format", "json", "--timeout", "2m", "-c", file, name)
	if code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errw)
	}
	if strings.Contains(out+errw, "manager") {
		t.Errorf("deploy on a one-manager swarm speaks of managers; only plan and quorum say what one manager means:\n%s%s", out, errw)
	}
	var res struct {
		Outcome  string `json:"outcome"`
		Services []struct {
			Service, Action, Image, Outcome string
		} `json:"services"`
		Timings []struct {
			Phase string  `json:"phase"`
			MS    float64 `json:"ms"`
		} `json:"timings"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("deploy --format json printed no JSON: %v\n%s", err, out)
	}
	if res.Outcome != "converged" || len(res.Services) != 1 || !strings.Contains(res.Services[0].Image, "@sha256:") {
		t.Errorf("result = %+v", res)
	}
	phases := map[string]bool{}
	for _, p := range res.Timings {
		phases[p.Phase] = true
	}
	if !phases["load"] || !phases["registry "+image] || !phases["wait"] || !phases["total"] || !strings.Contains(errw, "  total\n") {
		t.Errorf("--timings: phases %v in the result, stderr:\n%s", res.Timings, errw)
	}
	if code, out, errw := run("plan", "--detailed-exitcode", "-c", file, name); code != 0 {
		t.Errorf("plan after deploy: exit %d, want 0\n%s%s", code, out, errw)
	}
	t.Setenv("VERSION", "2")
	t.Setenv("TOKEN", "another-secret-token")
	code, out, errw = run("plan", "--detailed-exitcode", "-c", file, name)
	if code != 2 || !strings.Contains(out, "env.VERSION: (redacted) -> (redacted)") {
		t.Errorf("plan with a changed env: exit %d, want 2 with a redacted env diff\n%s%s", code, out, errw)
	}
	if strings.Contains(out+errw, "secret-token") {
		t.Errorf("plan shows an env value:\n%s", out)
	}
	if code, out, errw := run("deploy", "--timeout", "2m", "-c", file, name); code != 0 {
		t.Fatalf("deploy v2: exit %d\n%s%s", code, out, errw)
	}
	if code, out, errw := run("rollback", "--timeout", "2m", name, "web"); code != 0 || !strings.Contains(out, "Rolling back service "+name+"_web") {
		t.Fatalf("rollback: exit %d\n%s%s", code, out, errw)
	}
	t.Setenv("VERSION", "1")
	t.Setenv("TOKEN", "super-secret-token")
	if code, out, errw := run("plan", "--detailed-exitcode", "-c", file, name); code != 0 {
		t.Errorf("plan of v1 after rollback: exit %d, want 0\n%s%s", code, out, errw)
	}
}

// cliStack sets up a command-line test on the real swarm: the engine, a
// stack name whose objects go when t ends, the test image pushed as $IMAGE,
// and a function that runs deckhand with args (exit code, stdout, stderr).
func cliStack(t *testing.T) (*client.Client, string, string, func(args ...string) (int, string, string)) {
	t.Helper()
	c := testenv.Engine(t)
	reg := testenv.Registry(t)
	t.Setenv("DOCKER_CONFIG", testenv.DockerConfig(t))
	name := testenv.UniqueName(t)
	image := reg.Addr + "/deckhand-cli-" + name + ":v1"
	testenv.BuildImage(t, c, image)
	testenv.PushImage(t, c, image)
	t.Cleanup(func() { removeServices(t, c, name) })
	t.Setenv("IMAGE", image)
	return c, name, image, deckhandRun
}

func removeServices(t *testing.T, c *client.Client, stackName string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := make(client.Filters).Add("label", "com.docker.stack.namespace="+stackName)
	if res, err := c.ServiceList(ctx, client.ServiceListOptions{Filters: f}); err == nil {
		for _, s := range res.Items {
			_, _ = c.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{})
		}
	}
	// Networks, config and secret versions and revision records go once
	// the removed services' tasks are gone.
	for range 30 {
		nets, nerr := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		cfgs, cerr := c.ConfigList(ctx, client.ConfigListOptions{Filters: f})
		secs, serr := c.SecretList(ctx, client.SecretListOptions{Filters: f})
		if nerr != nil || cerr != nil || serr != nil || len(nets.Items)+len(cfgs.Items)+len(secs.Items) == 0 {
			return
		}
		for _, n := range nets.Items {
			_, _ = c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		}
		for _, o := range cfgs.Items {
			_, _ = c.ConfigRemove(ctx, o.ID, client.ConfigRemoveOptions{})
		}
		for _, o := range secs.Items {
			_, _ = c.SecretRemove(ctx, o.ID, client.SecretRemoveOptions{})
		}
		time.Sleep(time.Second)
	}
	t.Logf("cleanup: objects of %s still in use", stackName)
}

// TestDeployEngineUnreachable points DOCKER_HOST at a dead socket: exit 1
// with a message that says what to do.
func TestDeployEngineUnreachable(t *testing.T) {
	testenv.Engine(t) // only meaningful where e2e tests run
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "dead.sock"))
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("IMAGE", "127.0.0.1:5000/svc:1")
	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: ${IMAGE}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	code := newCLI(strings.NewReader(""), &out, &errw).run([]string{"deckhand", "deploy", "-c", file, "unreachable"})
	if code != 1 || !strings.Contains(errw.String(), "cannot reach the docker engine") || !strings.Contains(errw.String(), "DOCKER_HOST") {
		t.Fatalf("exit %d, stderr %q: want exit 1 saying the engine cannot be reached and what to do", code, errw.String())
	}
}
