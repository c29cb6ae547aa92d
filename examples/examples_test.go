package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/golden"
	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/nginx"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds deckhand and the example service once per test binary
// and returns the directory holding them.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "deckhand-examples-bin")
		if buildErr != nil {
			return
		}
		for pkg, name := range map[string]string{"../cmd/deckhand": "deckhand", "./app": "hello"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, name), pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// run runs name with args and env (on top of a minimal environment) and
// returns its combined output and exit code.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), 0
}

// TestDeploymentRenders renders deployment.yml with deckhand render as CI
// would and compares it with the golden file; without REGISTRY it must fail
// and say where the variable is used.
func TestDeploymentRenders(t *testing.T) {
	deckhand := filepath.Join(binaries(t), "deckhand")
	env := []string{"REGISTRY=registry.example.com:5000", "IMAGE_NAME=hello", "TAG=v1", "APP_API_KEY=not-a-real-key"}
	out, code := run(t, env, deckhand, "render", "-c", filepath.Join(Dir(), "deployment.yml"), "hello")
	if code != 0 {
		t.Fatalf("deckhand render exited %d:\n%s", code, out)
	}
	golden.Assert(t, []byte(strings.ReplaceAll(out, Dir(), "$EXAMPLES")), filepath.Join("testdata", "deployment.rendered.yml"))

	out, code = run(t, env[1:], deckhand, "render", "-c", filepath.Join(Dir(), "deployment.yml"), "hello")
	if code == 0 || !strings.Contains(out, "REGISTRY") || !strings.Contains(out, "deployment.yml:") {
		t.Errorf("render without REGISTRY: exit %d, output:\n%s\nwant a failure naming REGISTRY and its file:line", code, out)
	}
}

// fixtureModel is the routing model of the example stack on three nodes,
// plus a service with no live task.
func fixtureModel() discovery.Model {
	return discovery.Model{Services: []discovery.Service{
		{Stack: "hello", Name: "hello_web", Upstreams: []discovery.Upstream{{Name: "hello_web", TargetPort: 8080, Servers: []discovery.Server{
			{Addr: "10.99.0.11", Port: 30001}, {Addr: "10.99.0.12", Port: 30002}, {Addr: "10.99.0.13", Port: 30003},
		}}}, Routes: []discovery.Route{{Host: "hello.localhost", Path: "/", Upstream: "hello_web"}}},
		{Stack: "hello", Name: "hello_admin", Upstreams: []discovery.Upstream{{Name: "hello_admin", TargetPort: 8080, Servers: []discovery.Server{}}},
			Routes: []discovery.Route{{Host: "hello.localhost", Path: "/admin/", Upstream: "hello_admin"}}},
	}}
}

// nginxPrefix lays out nginx/nginx.conf and conf as conf.d/deckhand.conf in a
// fresh prefix directory, the way demo.sh does, and returns the directory.
func nginxPrefix(t *testing.T, conf []byte) string {
	t.Helper()
	dir := t.TempDir()
	main, err := os.ReadFile(filepath.Join(Dir(), "nginx", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"conf.d", "logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), main, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "deckhand.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNginxTemplate renders nginx/hello.conf.tmpl for the example's routing
// model, compares it with the golden file, and has nginx test it inside
// nginx/nginx.conf.
func TestNginxTemplate(t *testing.T) {
	tmpl, err := nginx.LoadTemplate(filepath.Join(Dir(), "nginx", "hello.conf.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := nginx.RenderListen(fixtureModel(), tmpl, "127.0.0.1", 8088)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, conf, filepath.Join("testdata", "hello.conf"))

	bin := testenv.Nginx(t)
	dir := nginxPrefix(t, conf)
	if out, code := run(t, nil, bin, "-e", "stderr", "-p", dir+"/", "-c", "nginx.conf", "-t"); code != 0 {
		t.Fatalf("nginx -t of the rendered template in nginx/nginx.conf failed:\n%s", out)
	}
}

// TestScripts runs docker-entrypoint.sh and healthcheck.sh on the host with
// busybox (the image's shell and wget) around the real service binary: the
// entrypoint reads the secret file, the config and the environment and execs
// the service, which then gets SIGTERM itself; the health check says which.
func TestScripts(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		testenv.Unavailable(t, "busybox is not installed (apt-get install busybox-static): %v", err)
	}
	bins := binaries(t)
	// A PATH like the image's: busybox applets and the scripts.
	path := t.TempDir()
	for _, applet := range []string{"sh", "wget", "timeout", "head", "sed", "env", "cat"} {
		if err := os.Symlink(busybox, filepath.Join(path, applet)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"docker-entrypoint.sh", "healthcheck.sh"} {
		if err := os.Symlink(filepath.Join(Dir(), "app", s), filepath.Join(path, s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(bins, "hello"), filepath.Join(path, "hello")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "api_key")
	if err := os.WriteFile(secret, []byte("s3cr3t-value"), 0o400); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	env := []string{"PATH=" + path, "APP_PORT=" + fmt.Sprint(port), "APP_CONFIG=" + filepath.Join(Dir(), "config", "app.conf"),
		"APP_API_KEY_FILE=" + secret, "APP_VERSION=v9", "APP_ENVIRONMENT=test"}

	health := func() (string, int) {
		cmd := exec.Command(filepath.Join(path, "sh"), filepath.Join(path, "healthcheck.sh"))
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := health(); code != 1 || !strings.HasPrefix(out, "unhealthy: ") || strings.Count(out, "\n") != 1 {
		t.Errorf("health check with nothing listening: exit %d %q, want 1 and one unhealthy line", code, out)
	}

	cmd := exec.Command(filepath.Join(path, "sh"), filepath.Join(path, "docker-entrypoint.sh"))
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if !eventually(func() bool { _, err := http.Get(base + "/healthz"); return err == nil }) {
		t.Fatalf("the service never listened on %s; output:\n%s", base, out.String())
	}
	if o, code := health(); code != 0 || o != "healthy: ok v9\n" {
		t.Errorf("health check of the running service: exit %d %q, want 0 \"healthy: ok v9\"", code, o)
	}
	resp, err := http.Get(base + "/?format=json")
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Greeting, Version, Environment string
		Secret                         bool
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if a.Greeting != "hello" || a.Version != "v9" || a.Environment != "test" || !a.Secret {
		t.Errorf("answer %+v: want the config's greeting, APP_VERSION, APP_ENVIRONMENT and the secret read", a)
	}
	// exec: the shell's pid is now the service's, so SIGTERM reaches it.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("service after SIGTERM: %v, want exit 0; output:\n%s", err, out.String())
	}
	log := out.String()
	for _, want := range []string{"entrypoint: APP_API_KEY read from " + secret, "entrypoint: config " + filepath.Join(Dir(), "config", "app.conf"),
		"entrypoint: version v9", "msg=\"shutting down\"", "msg=stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "s3cr3t-value") {
		t.Errorf("the secret's value was printed:\n%s", log)
	}

	// A secret file that cannot be read stops the start with a reason.
	bad := exec.Command(filepath.Join(path, "sh"), filepath.Join(path, "docker-entrypoint.sh"))
	bad.Env = append(slices.Clone(env[:1]), "APP_API_KEY_FILE="+filepath.Join(dir, "missing"))
	o, err := bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(o), "not readable") {
		t.Errorf("entrypoint with a missing secret file: %v %q, want exit 1 saying it is not readable", err, o)
	}
}

// eventually polls cond for up to two minutes; it bounds waits for the
// engine and processes and asserts nothing about speed.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return cond()
}

// docker runs the docker CLI and fails the test on error.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestImage builds the example image for real from the locally made bases
// and checks what the talks claim about its Dockerfile: the build stage
// stays cached while the cache-breaker stage runs again, the secret build
// argument reaches no layer or history of the final image (though the stage
// that used it does show it), the final image holds only the binary and the
// scripts on top of its base, and the health check, entrypoint and SIGTERM
// handling work in a running container.
func TestImage(t *testing.T) {
	testenv.Engine(t)
	ctx := context.Background()
	name := testenv.UniqueName(t)
	tag := "deckhand-example/hello:" + name
	const secret = "pr1vate-t0ken-value"
	b := Build{Tag: tag, Version: "v1", CacheBreaker: name + "-1", PrivateToken: secret}
	if _, err := Image(ctx, b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", tag, tag+"-private").Run() })

	b.CacheBreaker = name + "-2"
	out, err := Image(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if step := buildStep(out, "RUN go build"); !strings.Contains(step, "Using cache") {
		t.Errorf("second build compiled again; the build stage must come from the cache:\n%s", step)
	}
	if step := buildStep(out, "cache-breaker="); strings.Contains(step, "Using cache") || !strings.Contains(step, "Running in") {
		t.Errorf("second build took the cache-breaker stage from the cache; it must run every time:\n%s", step)
	}

	history := docker(t, "history", "--no-trunc", tag)
	inspect := docker(t, "image", "inspect", tag)
	if strings.Contains(history, secret) || strings.Contains(inspect, secret) {
		t.Errorf("the secret build argument leaks into the final image:\n%s", history)
	}
	b.Tag, b.Target = tag+"-private", "private"
	if _, err := Image(ctx, b); err != nil {
		t.Fatal(err)
	}
	if h := docker(t, "history", "--no-trunc", b.Tag); !strings.Contains(h, secret) {
		t.Errorf("the private stage's history does not show the secret, so the check above proves nothing:\n%s", h)
	}

	var img []struct {
		Config struct {
			Entrypoint, Cmd []string
			User            string
			Env             []string
			Healthcheck     struct {
				Test                           []string
				Interval, Timeout, StartPeriod time.Duration
				Retries                        int
			}
		}
	}
	if err := json.Unmarshal([]byte(inspect), &img); err != nil || len(img) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	c := img[0].Config
	hc := c.Healthcheck
	if !slices.Equal(c.Entrypoint, []string{"docker-entrypoint.sh"}) || !slices.Equal(c.Cmd, []string{"hello"}) || c.User != "65534:65534" ||
		!slices.Equal(hc.Test, []string{"CMD", "healthcheck.sh"}) || hc.Interval != 5*time.Second || hc.Timeout != 3*time.Second ||
		hc.StartPeriod != 15*time.Second || hc.Retries != 3 || !slices.Contains(c.Env, "APP_VERSION=v1") {
		t.Errorf("image config %+v: want exec-form entrypoint, CMD [hello], user 65534, HEALTHCHECK 5s/3s/15s/3, APP_VERSION=v1", c)
	}

	base := imageFiles(t, "deckhand-example/busybox:local")
	added := slices.DeleteFunc(imageFiles(t, tag), func(f string) bool { return slices.Contains(base, f) })
	wantAdded := []string{"usr/local/bin/docker-entrypoint.sh", "usr/local/bin/healthcheck.sh", "usr/local/bin/hello",
		"usr/share/", "usr/share/hello/", "usr/share/hello/BUILD_INFO", "usr/share/hello/private/", "usr/share/hello/private/assets"}
	if !slices.Equal(added, wantAdded) {
		t.Errorf("files the image adds to its base:\n%s\nwant only the binary, the scripts and the copied stage outputs:\n%s",
			strings.Join(added, "\n"), strings.Join(wantAdded, "\n"))
	}

	t.Run("container", func(t *testing.T) { testContainer(t, tag) })
}

// buildStep returns the classic builder's output for the step whose
// instruction contains marker, up to the next step.
func buildStep(out, marker string) string {
	i := strings.Index(out, marker)
	if i < 0 {
		return "(no step with " + marker + ")"
	}
	rest := out[i:]
	if j := strings.Index(rest, "\nStep "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// imageFiles lists the files of image, sorted, from docker export of a
// created (never started) container.
func imageFiles(t *testing.T, image string) []string {
	t.Helper()
	id := strings.TrimSpace(docker(t, "create", image))
	defer exec.Command("docker", "rm", "-f", id).Run()
	out, err := exec.Command("sh", "-c", "docker export "+id+" | tar -t").Output()
	if err != nil {
		t.Fatalf("docker export %s: %v", image, err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// Docker adds these to every container.
		if strings.HasPrefix(f, ".dockerenv") || strings.HasPrefix(f, "dev/") || strings.HasPrefix(f, "proc/") ||
			strings.HasPrefix(f, "sys/") || strings.HasPrefix(f, "etc/hosts") || strings.HasPrefix(f, "etc/hostname") ||
			strings.HasPrefix(f, "etc/resolv.conf") || strings.HasPrefix(f, "etc/mtab") {
			continue
		}
		files = append(files, f)
	}
	slices.Sort(files)
	return files
}

// testContainer runs the image with a config and a secret mounted the way
// swarm mounts them, waits for it to turn healthy, asks it, and stops it.
func testContainer(t *testing.T, image string) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.conf"), []byte("greeting = ahoy\nshutdown_delay = 1s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "api_key"), []byte("container-secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := testenv.UniqueName(t)
	docker(t, "run", "-d", "--name", name, "-p", "127.0.0.1::8080", "--hostname", "web-1",
		"-v", filepath.Join(dir, "app.conf")+":/etc/hello/app.conf:ro", "-v", filepath.Join(dir, "api_key")+":/run/secrets/api_key:ro",
		"-e", "APP_API_KEY_FILE=/run/secrets/api_key", "-e", "APP_ENVIRONMENT=test", image)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })

	state := func() string {
		return strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", name))
	}
	if !eventually(func() bool { s := state(); return s == "running healthy" || strings.HasPrefix(s, "exited") }) || state() != "running healthy" {
		t.Fatalf("container state %q, want running healthy; logs:\n%s", state(), docker(t, "logs", name))
	}
	healthLog := docker(t, "inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}", name)
	if !strings.Contains(healthLog, "0 healthy: ok v1\n") {
		t.Errorf("health log %q lacks the health check's line", healthLog)
	}
	addr := strings.TrimSpace(docker(t, "port", name, "8080/tcp"))
	addr = strings.Split(addr, "\n")[0]
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ahoy from web-1, version v1 (test)\n" {
		t.Errorf("GET / = %q, want the config's greeting, the host name and APP_VERSION", body)
	}
	docker(t, "stop", "-t", "20", name)
	if code := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.ExitCode}}", name)); code != "0" {
		t.Errorf("exit code after docker stop = %s, want 0 (SIGTERM reached the service, which drained)", code)
	}
	logs := docker(t, "logs", name)
	for _, want := range []string{"entrypoint: APP_API_KEY read from /run/secrets/api_key", "msg=\"shutting down\"", "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "container-secret") {
		t.Errorf("the secret's value is in the logs:\n%s", logs)
	}
}

// TestDemo runs examples/demo.sh as make demo does (with its own state
// directory, stack, ports and tag so it can run next to other tests), runs it
// again to show it is idempotent, and cleans up with demo.sh clean. It costs
// about a minute on a warm build cache; -short skips it outside CI.
func TestDemo(t *testing.T) {
	if testing.Short() && !testenv.InCI() {
		t.Skip("-short: skipping the demo run (about a minute)")
	}
	testenv.Engine(t)
	testenv.Nginx(t)
	bins := binaries(t)
	name := testenv.UniqueName(t)
	dir := filepath.Join(t.TempDir(), "demo")
	host := name + ".localhost"
	env := []string{"DEMO_DIR=" + dir, "DEMO_STACK=" + name, "DEMO_PORT=" + fmt.Sprint(testenv.FreePort(t)),
		"DEMO_METRICS=127.0.0.1:" + fmt.Sprint(testenv.FreePort(t)), "DEMO_HOST=" + host,
		"DECKHAND=" + filepath.Join(bins, "deckhand"), "TAG=" + name}
	script := filepath.Join(Dir(), "demo.sh")
	cleaned := false
	clean := func() {
		if cleaned {
			return
		}
		cleaned = true
		out, code := run(t, env, script, "clean")
		if code != 0 {
			t.Errorf("demo.sh clean exited %d:\n%s", code, out)
		}
		_ = exec.Command("docker", "image", "rm", "127.0.0.1:5000/deckhand-hello:"+name).Run()
	}
	t.Cleanup(clean)

	out, code := run(t, env, script)
	if code != 0 {
		t.Fatalf("demo.sh exited %d:\n%s", code, out)
	}
	hosts := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "hello from "); ok {
			h, _, _ := strings.Cut(rest, ",")
			hosts[h] = true
			if !strings.Contains(line, "version "+name+" (demo) [via 127.0.0.1:") {
				t.Errorf("answer %q: want the demo's version, environment and the upstream that served it", line)
			}
		}
	}
	if len(hosts) != 3 {
		t.Errorf("answers came from %d replicas %v, want all 3:\n%s", len(hosts), hosts, out)
	}
	for _, want := range []string{"Creating service " + name + "_web", "converged", "make demo-clean", "demo ready in"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run lacks %q:\n%s", want, out)
		}
	}

	out, code = run(t, env, script)
	if code != 0 {
		t.Fatalf("second demo.sh run exited %d:\n%s", code, out)
	}
	for _, want := range []string{"Stack " + name + ": no changes", "already running (pid", "demo ready in"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run (idempotent) lacks %q:\n%s", want, out)
		}
	}

	clean()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("demo.sh clean left %s behind (%v)", dir, err)
	}
	if s := docker(t, "service", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+name); strings.TrimSpace(s) != "" {
		t.Errorf("demo.sh clean left services of stack %s: %s", name, s)
	}
}
