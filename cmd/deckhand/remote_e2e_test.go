package main

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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
)

// deckhandRun runs deckhand in-process and returns its exit code and output.
func deckhandRun(args ...string) (int, string, string) {
	var out, errw bytes.Buffer
	code := newCLI(strings.NewReader(""), &out, &errw).run(append([]string{"deckhand"}, args...))
	return code, out.String(), errw.String()
}

// sshStack is cliStack reached through a private sshd: DOCKER_HOST is its
// ssh:// address, the ssh on PATH its logging shim, and VERSION is 1. The
// client it returns reaches the engine directly.
func sshStack(t *testing.T) (*client.Client, string, *testenv.SSHServer) {
	t.Helper()
	c, name, _, _ := cliStack(t)
	srv := testenv.SSH(t)
	srv.UsePATH(t)
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_HOST", srv.Host)
	t.Setenv("VERSION", "1")
	return c, name, srv
}

// writeRemoteStack writes a stack of one real service (web) and n services
// with no replicas, which cost engine calls but no containers.
func writeRemoteStack(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("services:\n  web:\n    image: ${IMAGE}\n    environment:\n      VERSION: ${VERSION}\n    ports:\n      - target: 8080\n        mode: host\n")
	for i := range n {
		fmt.Fprintf(&b, "  idle%02d:\n    image: ${IMAGE}\n    deploy:\n      replicas: 0\n", i)
	}
	file := filepath.Join(t.TempDir(), "stack.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// targetOf is the target a JSON result names (none when out is not JSON).
func targetOf(t *testing.T, out string) engineJSON {
	t.Helper()
	var r struct{ Target engineJSON }
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Errorf("not a JSON result: %v\n%s", err, out)
	}
	return r.Target
}

// TestRemoteOverSSH drives plan, deploy (with registry auth), rollback, live
// quorum and watch against the test engine through a real sshd, selecting
// the target every way the docker CLI does, and checks that a long run
// reuses its ssh connections.
func TestRemoteOverSSH(t *testing.T) {
	c, name, srv := sshStack(t)
	const idle = 30
	file := writeRemoteStack(t, idle)
	where := "context default (" + srv.Host + ")"
	target := engineJSON{Context: "default", Host: srv.Host}

	if code, out, errw := deckhandRun("plan", "--detailed-exitcode", "--format", "json", "-c", file, name); code != 2 || !strings.Contains(errw, "planning stack "+name+" against "+where) || targetOf(t, out) != target {
		t.Fatalf("plan --format json over ssh: exit %d, want 2 naming %s, and target %+v in the JSON\n%s%s", code, where, target, out, errw)
	}

	before := srv.Invocations()
	code, out, errw := deckhandRun("deploy", "--with-registry-auth", "--timeout", "2m", "-c", file, name)
	if code != 0 || !strings.Contains(out, "deploying stack "+name+" to "+where) {
		t.Fatalf("deploy over ssh: exit %d\n%s%s", code, out, errw)
	}
	if strings.Count(out+errw, "deploying stack") != 1 {
		t.Errorf("the target is named more than once:\n%s", out)
	}
	// 31 services created, inspected and waited for: well over a hundred
	// API calls, over at most maxEngineConns connections (plus the ping).
	if n := srv.Invocations() - before; n > maxEngineConns+1 {
		t.Errorf("a %d-service deploy started %d ssh processes; connections must be reused (at most %d)", idle+1, n, maxEngineConns+1)
	}

	code, out, errw = deckhandRun("deploy", "--format", "json", "-c", file, name)
	var res struct {
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Outcome != "no changes" || targetOf(t, out) != target {
		t.Errorf("no-op deploy --format json: exit %d, %+v (%v)\n%s%s", code, res, err, out, errw)
	}

	t.Setenv("VERSION", "2")
	if code, out, errw := deckhandRun("deploy", "--timeout", "2m", "-c", file, name); code != 0 {
		t.Fatalf("deploy v2 over ssh: exit %d\n%s%s", code, out, errw)
	}
	if code, out, errw := deckhandRun("rollback", "--timeout", "2m", "--format", "json", name, "web"); code != 0 || !strings.Contains(errw, "rolling back stack "+name+" on "+where) || targetOf(t, out) != target {
		t.Fatalf("rollback --format json over ssh: exit %d, want 0 naming %s, and target %+v in the JSON\n%s%s", code, where, target, out, errw)
	}
	t.Setenv("VERSION", "1")
	if code, out, errw := deckhandRun("plan", "--detailed-exitcode", "-c", file, name); code != 0 {
		t.Errorf("plan of v1 after the rollback over ssh: exit %d, want 0\n%s%s", code, out, errw)
	}

	if code, out, errw := deckhandRun("quorum", "--p", "0.01"); code != 0 || !strings.Contains(out, "leader") || !strings.Contains(errw, "reading the swarm of "+where) {
		t.Errorf("live quorum over ssh: exit %d\n%s%s", code, out, errw)
	}
	if code, out, errw := deckhandRun("quorum", "--format", "json"); code != 0 || !strings.Contains(out, `"has_quorum": true`) || targetOf(t, out) != target {
		t.Errorf("live quorum --format json over ssh: exit %d, want quorum and target %+v\n%s%s", code, target, out, errw)
	}
	if code, out, errw := deckhandRun("nginx", "render", "--format", "json", name); code != 0 || !strings.Contains(out, `"stack": "`+name+`"`) || targetOf(t, out) != target {
		t.Errorf("nginx render --format json over ssh: exit %d, want stack %s and target %+v\n%s%s", code, name, target, out, errw)
	}

	t.Run("context three ways", func(t *testing.T) {
		out, err := exec.Command("docker", "context", "create", "viassh", "--docker", "host="+srv.Host).CombinedOutput()
		if err != nil {
			t.Fatalf("docker context create: %v\n%s", err, out)
		}
		want := "reading the swarm of context viassh (" + srv.Host + ")"
		t.Setenv("DOCKER_HOST", "unix:///nonexistent/not-this.sock")
		if code, out, errw := deckhandRun("quorum", "--context", "viassh"); code != 0 || !strings.Contains(errw, want) {
			t.Errorf("--context: exit %d\n%s%s", code, out, errw)
		}
		t.Setenv("DOCKER_HOST", "")
		t.Setenv("DOCKER_CONTEXT", "viassh")
		if code, out, errw := deckhandRun("quorum"); code != 0 || !strings.Contains(errw, want) {
			t.Errorf("DOCKER_CONTEXT: exit %d\n%s%s", code, out, errw)
		}
		t.Setenv("DOCKER_CONTEXT", "")
		if out, err := exec.Command("docker", "context", "use", "viassh").CombinedOutput(); err != nil {
			t.Fatalf("docker context use: %v\n%s", err, out)
		}
		if code, out, errw := deckhandRun("quorum"); code != 0 || !strings.Contains(errw, want) {
			t.Errorf("current context: exit %d\n%s%s", code, out, errw)
		}
	})

	t.Run("plugin with docker --context", func(t *testing.T) {
		configDir, _ := installPlugin(t)
		docker := dockerClients(t)[0]
		env := srv.PathEnv(append(os.Environ(), "DOCKER_CONFIG="+configDir, "DOCKER_HOST=", "DOCKER_CONTEXT="))
		create := exec.Command(docker, "context", "create", "viassh", "--docker", "host="+srv.Host)
		create.Env = env
		if out, err := create.CombinedOutput(); err != nil {
			t.Fatalf("docker context create: %v\n%s", err, out)
		}
		cmd := exec.Command(docker, "--context", "viassh", "deckhand", "quorum")
		cmd.Env = env
		var out, errw bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errw
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "leader") || !strings.Contains(errw.String(), "reading the swarm of context viassh ("+srv.Host+")") {
			t.Errorf("docker --context viassh deckhand quorum: %v\n%s%s", err, out.String(), errw.String())
		}
	})

	t.Run("watch survives a dropped connection", func(t *testing.T) {
		t.Setenv("DOCKER_CONTEXT", "")
		t.Setenv("DOCKER_HOST", srv.Host)
		testWatchOverSSH(t, c, srv, name)
	})
}

// testWatchOverSSH runs watch over ssh, drops its ssh sessions, then stops
// sshd altogether: each time watch follows a change once ssh is back, the
// config stays while the engine cannot be reached, and /healthz says so.
// Polling and resync are slowed to minutes, so after its first read watch
// learns of a change only through the event stream (and the reads that
// come with reconnecting it).
func testWatchOverSSH(t *testing.T, c *client.Client, srv *testenv.SSHServer, stackName string) {
	web := stackName + "_web"
	conf := filepath.Join(t.TempDir(), "site.conf")
	metrics := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var logMu sync.Mutex
	var logs strings.Builder
	logged := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.String()
	}
	go func() {
		defer close(done)
		root := newCLI(strings.NewReader(""), io.Discard, lockedWriter{&logMu, &logs}).newRootCommand()
		root.SetArgs([]string{"watch", "--out", conf, "--test-command", "", "--reload-command", "",
			"--metrics-addr", metrics, "--poll-slow", "10m", "--resync", "10m", stackName})
		if err := root.ExecuteContext(ctx); err != nil {
			t.Errorf("watch: %v", err)
		}
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("watch did not end within 30s of its interruption")
		}
		if t.Failed() {
			t.Logf("watch log:\n%s", logged())
		}
	}()
	// servers counts the upstream servers in the config: web's tasks.
	servers := func() int {
		b, _ := os.ReadFile(conf)
		return strings.Count(string(b), "\n    server ")
	}
	// reads is what watch has read so far: its renders and failed reads.
	reads := func() string {
		r, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return ""
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		var counts []string
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "deckhand_nginx_renders_total ") || strings.HasPrefix(line, "deckhand_engine_read_errors_total ") {
				counts = append(counts, line)
			}
		}
		return strings.Join(counts, ", ")
	}
	// follows waits until watch has read nothing for 3 s (it has got over
	// the fault; from then on only an event makes it read), scales web to
	// n and waits until the config has n servers. Each further scale to n
	// changes nothing but is a service event, so a stream that reconnects
	// after the first event still hears one.
	follows := func(n uint64, after string) {
		t.Helper()
		last, since := reads(), time.Now()
		waitFor(t, 60*time.Second, "watch to stop reading", func() bool {
			if now := reads(); now != last {
				last, since = now, time.Now()
			}
			return time.Since(since) >= 3*time.Second
		})
		scaleService(t, c, web, n)
		deadline := time.Now().Add(90 * time.Second)
		for servers() != int(n) {
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(conf)
				t.Fatalf("web scaled to %d %s; after 90s the config has %d servers: the event stream did not come back\n%s", n, after, servers(), b)
			}
			time.Sleep(2 * time.Second)
			scaleService(t, c, web, n)
		}
	}
	healthz := func() int {
		r, err := http.Get("http://" + metrics + "/healthz")
		if err != nil {
			return 0
		}
		r.Body.Close()
		return r.StatusCode
	}
	waitFor(t, 60*time.Second, "watch writes the config over ssh with web's one server", func() bool { return servers() == 1 })
	if !strings.Contains(logged(), "target=\"context default ("+srv.Host+")\"") {
		t.Errorf("watch did not log its target:\n%s", logged())
	}
	// The event stream is one live ssh session for as long as watch runs.
	if n := srv.KillSessions(); n == 0 {
		t.Fatal("no ssh session was live to drop; watch's event stream runs over one")
	}
	waitFor(t, 30*time.Second, "watch notices its event stream broke", func() bool {
		return strings.Contains(logged(), "engine event stream broke")
	})
	follows(2, "after the ssh sessions were dropped")
	if code := healthz(); code != http.StatusOK {
		t.Fatalf("/healthz answers %d after watch followed a change, want 200", code)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	kept, _ := os.ReadFile(conf)
	waitFor(t, 60*time.Second, "/healthz reports the engine unreachable while sshd is down", func() bool { return healthz() == http.StatusServiceUnavailable })
	if now, _ := os.ReadFile(conf); !bytes.Equal(now, kept) {
		t.Errorf("the config changed while the engine was unreachable:\n%s", now)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "/healthz recovers once sshd is back", func() bool { return healthz() == http.StatusOK })
	follows(1, "after sshd came back")
}

// TestRemoteSSHFaults: each way ssh can fail says what to do, exit 1.
func TestRemoteSSHFaults(t *testing.T) {
	testenv.Engine(t)
	for _, tc := range []struct {
		name string
		opt  testenv.SSHOption
		want string
	}{
		{"unknown host key", testenv.SSHUnknownHostKey(), "known_hosts"},
		{"key refused", testenv.SSHRefuseKey(), "authorized_keys"},
		{"no docker on the remote host", testenv.SSHWithoutDocker(), "install the docker CLI there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.SSH(t, tc.opt)
			srv.UsePATH(t)
			t.Setenv("DOCKER_CONTEXT", "")
			t.Setenv("DOCKER_CONFIG", t.TempDir())
			code, out, errw := deckhandRun("quorum", "-H", srv.Host)
			if code != 1 || !strings.Contains(errw, "cannot reach the docker engine at context default ("+srv.Host+")") || !strings.Contains(errw, tc.want) {
				t.Errorf("exit %d, want 1 naming the target and %q\n%s%s", code, tc.want, out, errw)
			}
		})
	}
}

// TestRemoteSSHDroppedMidDeployAtomic stops sshd while a deploy with
// --atomic waits: the deploy exits 1 naming the target, says exactly which
// undo it could not make and how to make it, its JSON result lists no undo
// it did not make, and deckhand rollback reaches the stack once ssh is back.
func TestRemoteSSHDroppedMidDeployAtomic(t *testing.T) {
	_, name, srv := sshStack(t)
	file := writeRemoteStack(t, 0)
	if code, out, errw := deckhandRun("deploy", "--timeout", "2m", "-c", file, name); code != 0 {
		t.Fatalf("deploy v1: exit %d\n%s%s", code, out, errw)
	}
	// v2 can never be placed, so the deploy is still waiting when ssh
	// goes away.
	t.Setenv("VERSION", "2")
	stack := "services:\n  web:\n    image: ${IMAGE}\n    environment:\n      VERSION: ${VERSION}\n    deploy:\n      placement:\n        constraints: [node.labels.deckhand-never == yes]\n"
	if err := os.WriteFile(file, []byte(stack), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code      int
		out, errw string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errw := deckhandRun("deploy", "--atomic", "--format", "json", "--timeout", "15s", "-c", file, name)
		done <- result{code, out, errw}
	}()
	time.Sleep(3 * time.Second)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("deploy did not end within 3 minutes of losing ssh")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	web := name + "_web"
	if r.code != 1 || !strings.Contains(r.errw, "the docker engine at context default ("+srv.Host+") stopped answering") ||
		!strings.Contains(r.errw, `atomic undo incomplete: restore service "`+web+`"`) || !strings.Contains(r.errw, "roll it back with deckhand rollback") {
		t.Errorf("exit %d: want 1, naming the target, the undo that could not be made and the fix\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.errw)
	}
	var res struct {
		Undone []string `json:"atomic_undo"`
	}
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("deploy --format json: %v\n%s", err, r.out)
	}
	for _, u := range res.Undone {
		if strings.Contains(u, web) {
			t.Errorf("atomic_undo lists %s, whose restore failed: %q", web, res.Undone)
		}
	}
	if got := targetOf(t, r.out); got != (engineJSON{Context: "default", Host: srv.Host}) {
		t.Errorf("the result names target %+v, want %s", got, srv.Host)
	}
	// With ssh back, deckhand rollback (which the message advises) reaches
	// the service again.
	if code, out, errw := deckhandRun("rollback", "--detach", name, "web"); code != 0 {
		t.Errorf("rollback after ssh came back: exit %d\n%s%s", code, out, errw)
	}
}

// waitFor polls cond every 200 ms until it holds or the time is up.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
