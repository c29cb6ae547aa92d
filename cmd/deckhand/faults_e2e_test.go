package main

import (
	"bufio"
	"context"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testbed"
	"github.com/deckhand/deckhand/internal/testenv"
)

// faultStack is two services: db, and web that waits for db to be healthy,
// so that a deploy changing both writes web seconds after db: a fault
// started when db is written lands in the middle of the deploy.
const faultStack = `services:
  db:
    image: ${DB_IMAGE}
    environment:
      VERSION: ${VERSION}
    deploy:
      replicas: 1
  web:
    image: ${WEB_IMAGE}
    environment:
      VERSION: ${VERSION}
    depends_on:
      db:
        condition: service_healthy
    deploy:
      replicas: 1
`

// faultRun is a deckhand process whose output is read line by line while it
// runs, so that a test can strike at a given line.
type faultRun struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	seen chan struct{} // closed at the first line containing mark
	done chan error
}

func startFaultRun(t *testing.T, bin string, env []string, mark string, args ...string) *faultRun {
	t.Helper()
	r, w := io.Pipe()
	fr := &faultRun{cmd: exec.Command(bin, args...), seen: make(chan struct{}), done: make(chan error, 1)}
	fr.cmd.Env = env
	fr.cmd.Stdout, fr.cmd.Stderr = w, w
	if err := fr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { err := fr.cmd.Wait(); w.Close(); fr.done <- err }()
	go func() {
		sc := bufio.NewScanner(r)
		marked := false
		for sc.Scan() {
			fr.mu.Lock()
			fr.out.WriteString(sc.Text() + "\n")
			fr.mu.Unlock()
			if !marked && strings.Contains(sc.Text(), mark) {
				marked = true
				close(fr.seen)
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	return fr
}

// wait returns the exit code and the whole output.
func (fr *faultRun) wait(t *testing.T, limit time.Duration) (int, string) {
	t.Helper()
	select {
	case err := <-fr.done:
		fr.mu.Lock()
		defer fr.mu.Unlock()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), fr.out.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, fr.out.String()
	case <-time.After(limit):
		_ = fr.cmd.Process.Kill()
		fr.mu.Lock()
		defer fr.mu.Unlock()
		t.Fatalf("deckhand %v still runs after %s:\n%s", fr.cmd.Args[1:], limit, fr.out.String())
		return 0, ""
	}
}

// awaitMark waits for the marked line, or fails with the output so far.
func (fr *faultRun) awaitMark(t *testing.T, mark string, limit time.Duration) {
	t.Helper()
	select {
	case <-fr.seen:
	case <-time.After(limit):
		_ = fr.cmd.Process.Kill()
		fr.mu.Lock()
		defer fr.mu.Unlock()
		t.Fatalf("no line with %q after %s:\n%s", mark, limit, fr.out.String())
	}
}

// serviceImages maps the stack's services to their image and VERSION.
func serviceImages(t *testing.T, c *client.Client, stack string) map[string]string {
	t.Helper()
	f := make(client.Filters).Add("label", "com.docker.stack.namespace="+stack)
	res, err := c.ServiceList(context.Background(), client.ServiceListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range res.Items {
		cs := s.Spec.TaskTemplate.ContainerSpec
		img, _, _ := strings.Cut(cs.Image, "@")
		out[strings.TrimPrefix(s.Spec.Name, stack+"_")] = img + " " + strings.Join(cs.Env, ",")
	}
	return out
}

// faultBed is a one-manager test bed with the registry relayed, v1 and v2
// of the test image in the registry (v2 never pulled by the node), the stack
// file, and a config with the registry's credentials.
type faultBed struct {
	bed      *testbed.Bed
	c        *client.Client
	bin      string
	file     string
	name     string
	v1, v2   string // references as the node pulls them
	env      func(version, dbImage, webImage string) []string
	deployTo func(extra ...string) []string
}

func newFaultBed(t *testing.T) *faultBed {
	hostEngine := testenv.Engine(t)
	hostReg := testenv.Registry(t)
	name := testenv.UniqueName(t)
	ref := hostReg.Addr + "/deckhand-fault-" + name
	testenv.BuildImage(t, hostEngine, ref+":v1")
	testenv.PushImage(t, hostEngine, ref+":v1")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+ref+":v1\nLABEL org.deckhand.test.version=v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("docker", "build", "-q", "-t", ref+":v2", dir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0", "DOCKER_HOST="+hostEngine.DaemonHost())
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build v2: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", ref+":v2").Run() })
	testenv.PushImage(t, hostEngine, ref+":v2")

	bed := testbed.New(t, testbed.Options{Managers: 1, Registry: true})
	cfg := testenv.DockerConfigFor(t, bed.Registry())
	file := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(file, []byte(faultStack), 0o644); err != nil {
		t.Fatal(err)
	}
	fb := &faultBed{bed: bed, c: bed.Client(0), bin: buildDeckhand(t, t.TempDir()), file: file, name: name,
		v1: bed.ImageRef(ref + ":v1"), v2: bed.ImageRef(ref + ":v2")}
	fb.env = func(version, dbImage, webImage string) []string {
		return append(bed.Env(0), "DOCKER_CONFIG="+cfg, "VERSION="+version, "DB_IMAGE="+dbImage, "WEB_IMAGE="+webImage)
	}
	fb.deployTo = func(extra ...string) []string {
		return append(append([]string{"deploy", "--with-registry-auth", "--timeout", "2m"}, extra...), "-c", file, name)
	}
	return fb
}

// TestRegistryStoppedMidDeployE2E stops the registry once a deploy has
// resolved its images and written its first service, before the node pulled
// the second service's new image: the deploy fails with exit 3 naming the
// service and the pull error, and --atomic restores both services to the
// revision before, with the registry still down (their image is on the node).
func TestRegistryStoppedMidDeployE2E(t *testing.T) {
	fb := newFaultBed(t)
	if out, err := runEnv(fb.bin, fb.env("1", fb.v1, fb.v1), fb.deployTo()...); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	before := serviceImages(t, fb.c, fb.name)

	run := startFaultRun(t, fb.bin, fb.env("2", fb.v1, fb.v2), "Updating service "+fb.name+"_db", fb.deployTo("--atomic")...)
	run.awaitMark(t, "Updating service "+fb.name+"_db", time.Minute)
	if err := fb.bed.StopRegistry(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fb.bed.StartRegistry() }()
	code, out := run.wait(t, 4*time.Minute)
	t.Logf("deploy --atomic with the registry stopped after the first write:\n%s", out)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (not converged)", code)
	}
	for _, want := range []string{fb.name + "_web", "could not pull the image", "atomic: restored service " + fb.name + "_web"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not name %q", want)
		}
	}
	if got := serviceImages(t, fb.c, fb.name); !maps.Equal(got, before) {
		t.Errorf("after --atomic the services are %v, want them restored to %v", got, before)
	}
}

// TestEngineRestartedMidDeployE2E takes the manager's engine away in the
// middle of a deploy, between its two waves. Restarted at once, the deploy
// rides it out: it waits through the restart and writes the second wave over
// the version swarm moved on to, and the stack ends fully on the new
// version. Kept down, the deploy fails with an error that says the engine
// is unreachable; once it is back, the next deploy --atomic restores the
// unfinished run first and then converges to the file.
func TestEngineRestartedMidDeployE2E(t *testing.T) {
	fb := newFaultBed(t)
	if out, err := runEnv(fb.bin, fb.env("1", fb.v1, fb.v1), fb.deployTo()...); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, out)
	}
	mark := "Updating service " + fb.name + "_db"
	all := func(version string) map[string]string {
		return map[string]string{"db": fb.v1 + " VERSION=" + version, "web": fb.v1 + " VERSION=" + version}
	}

	run := startFaultRun(t, fb.bin, fb.env("2", fb.v1, fb.v1), mark, fb.deployTo("--atomic")...)
	run.awaitMark(t, mark, time.Minute)
	if err := fb.bed.Stop(0); err != nil {
		t.Fatal(err)
	}
	if err := fb.bed.Start(0); err != nil {
		t.Fatal(err)
	}
	code, out := run.wait(t, 4*time.Minute)
	t.Logf("deploy --atomic across an engine restart (exit %d):\n%s", code, out)
	if got := serviceImages(t, fb.c, fb.name); code != 0 || !maps.Equal(got, all("2")) {
		t.Fatalf("across an engine restart: exit %d and services %v, want 0 and both on version 2", code, got)
	}

	run = startFaultRun(t, fb.bin, fb.env("3", fb.v1, fb.v1), mark, "deploy", "--atomic", "--timeout", "20s", "-c", fb.file, fb.name)
	run.awaitMark(t, mark, time.Minute)
	if err := fb.bed.Stop(0); err != nil {
		t.Fatal(err)
	}
	code, out = run.wait(t, 2*time.Minute)
	t.Logf("deploy --atomic with the engine gone (exit %d):\n%s", code, out)
	if code != 1 || !strings.Contains(out, "stopped answering during the run") {
		t.Errorf("with the engine gone: exit %d, want 1 and a failure that says the engine cannot be reached", code)
	}
	if err := fb.bed.Start(0); err != nil {
		t.Fatal(err)
	}
	out, err := runEnv(fb.bin, fb.env("4", fb.v1, fb.v1), fb.deployTo("--atomic")...)
	t.Logf("deploy --atomic once the engine is back:\n%s", out)
	if err != nil || !strings.Contains(out, "did not finish") || !strings.Contains(out, "atomic: restoring revision") {
		t.Fatalf("deploy --atomic after the engine came back: %v; want it to restore the unfinished run first", err)
	}
	if got := serviceImages(t, fb.c, fb.name); !maps.Equal(got, all("4")) {
		t.Errorf("after the restoring deploy the services are %v, want both on version 4", got)
	}
}

func runEnv(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
