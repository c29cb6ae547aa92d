package testenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// recorder is a testing.TB that records how a test would have ended.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}

// Fatalf and Skipf end the goroutine like the real ones do.
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any) {
	r.skip = fmt.Sprint(args...)
	runtime.Goexit()
}

// ends runs f on its own goroutine with r, as the testing package runs a test.
func (r *recorder) ends(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestUnavailableFailsInCI(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		r.ends(func(tb testing.TB) { Unavailable(tb, "registry %s is down", "127.0.0.1:5000") })
		got, other := r.skip, r.fatal
		if ci == "true" {
			got, other = r.fatal, r.skip
		}
		if !strings.Contains(got, "registry 127.0.0.1:5000 is down") || other != "" {
			t.Errorf("CI=%q: fatal=%q skip=%q; want only the %s to name the registry", ci, r.fatal, r.skip,
				map[bool]string{true: "fatal", false: "skip"}[ci == "true"])
		}
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^t[0-9a-f]{8}$`)
	seen := map[string]bool{}
	for range 100 {
		n := UniqueName(t)
		if !valid.MatchString(n) || seen[n] {
			t.Fatalf("UniqueName = %q (seen before: %v); want a fresh t+8 hex name", n, seen[n])
		}
		seen[n] = true
	}
}

func TestEncodedAuth(t *testing.T) {
	r := RegistryInfo{Addr: "127.0.0.1:5000", User: "u", Password: "p/w+"}
	b, err := base64.URLEncoding.DecodeString(r.EncodedAuth())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["username"] != "u" || got["password"] != "p/w+" || got["serveraddress"] != "127.0.0.1:5000" {
		t.Errorf("EncodedAuth decodes to %v", got)
	}
}

func TestBuildContextHoldsDockerfileAndBinary(t *testing.T) {
	buf, err := buildContext([]byte("BIN"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "FROM scratch") || !strings.Contains(buf.String(), "BIN") {
		t.Errorf("build context lacks the Dockerfile or the binary")
	}
}

func TestDockerConfig(t *testing.T) {
	r := Registry(t)
	dir := DockerConfig(t)
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string }
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	auth, _ := base64.StdEncoding.DecodeString(cfg.Auths[r.Addr].Auth)
	if string(auth) != r.User+":"+r.Password {
		t.Errorf("config.json auth for %s decodes to %q, want the registry's user:password", r.Addr, auth)
	}
}

func TestNginx(t *testing.T) {
	p := Nginx(t)
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("Nginx = %q, not an executable: %v", p, err)
	}
}

func TestRegistryRefusesWrongPassword(t *testing.T) {
	r := Registry(t)
	code, err := probeRegistry(r.Addr, r.User, r.Password+"x")
	if err != nil || code != http.StatusUnauthorized {
		t.Errorf("GET /v2/ with a wrong password = %d, %v; want 401", code, err)
	}
	c := Engine(t)
	tag := BuildImage(t, c, r.Addr+"/"+UniqueName(t)+":wrong")
	bad := r
	bad.Password += "x"
	ctx := context.Background()
	resp, err := c.ImagePush(ctx, tag, client.ImagePushOptions{RegistryAuth: bad.EncodedAuth()})
	if err == nil {
		err = resp.Wait(ctx)
	}
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "auth") {
		t.Errorf("push with a wrong password: err = %v, want an authentication error", err)
	}
}

func TestBuildPushPull(t *testing.T) {
	c := Engine(t)
	r := Registry(t)
	ctx := context.Background()
	tag := BuildImage(t, c, r.Addr+"/"+UniqueName(t)+":v1")
	ref := PushImage(t, c, tag)
	if !strings.HasPrefix(ref, tag+"@sha256:") {
		t.Fatalf("PushImage = %q, want %s@sha256:...", ref, tag)
	}
	digest := ref[len(tag)+1:]
	repo := strings.TrimSuffix(tag, ":v1")

	// Pull it back by digest after dropping the local tag: anonymous is refused, the credentials work.
	if _, err := c.ImageRemove(ctx, tag, client.ImageRemoveOptions{}); err != nil {
		t.Fatalf("untag %s: %v", tag, err)
	}
	byDigest := repo + "@" + digest
	resp, err := c.ImagePull(ctx, byDigest, client.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(ctx)
	}
	if err == nil {
		t.Errorf("anonymous pull of %s succeeded; the registry must require authentication", byDigest)
	}
	resp, err = c.ImagePull(ctx, byDigest, client.ImagePullOptions{RegistryAuth: r.EncodedAuth()})
	if err == nil {
		err = resp.Wait(ctx)
	}
	if err != nil {
		t.Fatalf("pull %s with credentials: %v", byDigest, err)
	}
	t.Cleanup(func() { _, _ = c.ImageRemove(context.Background(), byDigest, client.ImageRemoveOptions{}) })
	img, err := c.ImageInspect(ctx, byDigest)
	if err != nil {
		t.Fatalf("inspect %s: %v", byDigest, err)
	}
	if !containsString(img.RepoDigests, byDigest) {
		t.Errorf("RepoDigests = %v, want %s", img.RepoDigests, byDigest)
	}
	if hc := img.Config.Healthcheck; hc == nil || strings.Join(hc.Test, " ") != "CMD /testsvc -healthcheck" {
		t.Errorf("healthcheck = %+v, want CMD /testsvc -healthcheck", hc)
	}
	if got := strings.Join(img.Config.Entrypoint, " "); got != "/testsvc" {
		t.Errorf("entrypoint = %q, want /testsvc", got)
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// runTestsvc starts a container of image with env and returns its ID and the
// host address of its port 8080; the container is removed when t ends.
func runTestsvc(t *testing.T, c *client.Client, image string, env ...string) (string, string) {
	t.Helper()
	ctx := context.Background()
	port := network.MustParsePort("8080/tcp")
	cr, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Env: env, ExposedPorts: network.PortSet{port: {}}},
		HostConfig: &container.HostConfig{PortBindings: network.PortMap{
			port: {{HostIP: netip.MustParseAddr("127.0.0.1")}},
		}},
		Name: UniqueName(t),
	})
	if err != nil {
		t.Fatalf("create a container of %s: %v", image, err)
	}
	t.Cleanup(func() {
		_, _ = c.ContainerRemove(context.Background(), cr.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := c.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start container of %s: %v", image, err)
	}
	in, err := c.ContainerInspect(ctx, cr.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := in.Container.NetworkSettings.Ports[port]
	if len(b) == 0 {
		t.Fatalf("container %s publishes no port for 8080", cr.ID)
	}
	return cr.ID, "127.0.0.1:" + b[0].HostPort
}

// waitHealth polls the container's health until it is not "starting".
func waitHealth(t *testing.T, c *client.Client, id string) container.HealthStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		in, err := c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if h := in.Container.State.Health; h != nil && h.Status != container.Starting {
			return h.Status
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("container %s still has no health verdict after 60s", id)
	return ""
}

func TestImageServesAndReportsHealth(t *testing.T) {
	c := Engine(t)
	image := BuildImage(t, c, "deckhand-testsvc:"+UniqueName(t))
	id, addr := runTestsvc(t, c, image, "VERSION=v9")
	sickID, _ := runTestsvc(t, c, image, "UNHEALTHY=1")

	if got := waitHealth(t, c, id); got != container.Healthy {
		t.Errorf("health of the testsvc container = %s, want healthy", got)
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	in, err := c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "hostname=" + in.Container.Config.Hostname + " version=v9\n"; string(body) != want {
		t.Errorf("GET / = %q, want %q", body, want)
	}
	if got := waitHealth(t, c, sickID); got != container.Unhealthy {
		t.Errorf("health with UNHEALTHY=1 = %s, want unhealthy", got)
	}

	// SIGTERM drains and exits 0; a process ignoring it would be killed (137) after the timeout.
	timeout := 20
	if _, err := c.ContainerStop(context.Background(), id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("stop %s: %v", id, err)
	}
	in, err = c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if in.Container.State.ExitCode != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", in.Container.State.ExitCode)
	}
}

func TestUnitOnlySkipsOutsideCI(t *testing.T) {
	t.Setenv("DECKHAND_UNIT_ONLY", "1")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		reached := false
		r.ends(func(tb testing.TB) { UnitOnly(tb); reached = true })
		wantSkip := ci != "true"
		if skipped := r.skip != ""; skipped != wantSkip || reached == wantSkip {
			t.Errorf("CI=%q DECKHAND_UNIT_ONLY=1: skipped=%v reached=%v, want skipped=%v", ci, skipped, reached, wantSkip)
		}
	}
}

func TestEnvFileOldAndNew(t *testing.T) {
	// Written by a hack/testenv.sh that predates the ssh and current engine fields.
	old := `{"docker_host": "unix:///var/run/docker.sock", "nginx": "/usr/sbin/nginx",
		"registry": {"addr": "127.0.0.1:5000", "user": "u", "password": "p"}, "started_dockerd": true}`
	var e envFile
	if err := json.Unmarshal([]byte(old), &e); err != nil {
		t.Fatal(err)
	}
	if e.CurrentEngine != nil || e.SSHD != "" || e.Registry.Addr != "127.0.0.1:5000" {
		t.Errorf("old env.json parsed as %+v", e)
	}
	now := `{"docker_host": "unix:///var/run/docker.sock", "sshd": "/usr/sbin/sshd", "openssl": "/usr/bin/openssl",
		"current_engine": {"dockerd": "/d", "runc": "/r", "dockerd_version": "Docker version 2", "runc_version": "runc version 1.5.3",
		"built_from": "a@v1 b@v2", "error": ""}}`
	e = envFile{}
	if err := json.Unmarshal([]byte(now), &e); err != nil {
		t.Fatal(err)
	}
	want := CurrentBuild{Dockerd: "/d", Runc: "/r", DockerdVersion: "Docker version 2", RuncVersion: "runc version 1.5.3", BuiltFrom: "a@v1 b@v2"}
	if e.CurrentEngine == nil || *e.CurrentEngine != want || e.SSHD != "/usr/sbin/sshd" || e.OpenSSL != "/usr/bin/openssl" {
		t.Errorf("env.json parsed as %+v, current engine %+v; want %+v", e, e.CurrentEngine, want)
	}
}

func TestCurrentEngineRecordedBuildFailure(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DECKHAND_TESTENV_DIR", dir)
	t.Setenv("DECKHAND_UNIT_ONLY", "")
	body := `{"current_engine": {"error": "the Go module proxy refused x@v1: 403 Forbidden"}}`
	if err := os.WriteFile(filepath.Join(dir, "env.json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	r.ends(func(tb testing.TB) { CurrentEngine(tb) })
	if !strings.Contains(r.fatal, "the Go module proxy refused x@v1: 403 Forbidden") {
		t.Errorf("CurrentEngine with a recorded build failure: fatal=%q skip=%q; want a failure naming it", r.fatal, r.skip)
	}
}

func TestCurrentEngineRuns(t *testing.T) {
	b := CurrentEngine(t)
	for _, c := range []struct{ bin, recorded, prefix string }{
		{b.Dockerd, b.DockerdVersion, "Docker version "},
		{b.Runc, b.RuncVersion, "runc version "},
	} {
		out, err := exec.Command(c.bin, "--version").Output()
		first, _, _ := strings.Cut(string(out), "\n")
		if err != nil || !strings.HasPrefix(first, c.prefix) {
			t.Errorf("%s --version = %q, %v; want %q...", c.bin, first, err, c.prefix)
		}
		if c.recorded != "" && first != c.recorded {
			t.Errorf("%s --version = %q, env.json recorded %q", c.bin, first, c.recorded)
		}
		t.Logf("%s: %s", c.bin, first)
	}
	if b.BuiltFrom == "" {
		t.Errorf("the current engine records no module versions it was built from")
	}
}
