package nginx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/testenv"
)

// nginxServer is a real nginx started by a test: its own prefix directory,
// pid file, logs and temp paths, listening on 127.0.0.1:Port, including Site.
type nginxServer struct {
	Dir, Conf, Site string
	Port            int
	TestCmd         string
	ReloadCmd       string
}

// minimalNginxConf wraps an http-level include in a main config whose every
// path lies inside dir, so it runs side by side with other tests.
func minimalNginxConf(dir, include string) string {
	return fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, include)
}

// nginxArgs are the flags that point nginx at dir's config.
func nginxArgs(dir string) string {
	return fmt.Sprintf("-p %[1]s -c %[1]s/nginx.conf -e %[1]s/error.log", dir)
}

// startNginx starts nginx on the config for an empty swarm, listening on a
// free port of 127.0.0.1, and stops it when the test ends.
func startNginx(t testing.TB, bin string) *nginxServer {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := &nginxServer{Dir: dir, Conf: filepath.Join(dir, "nginx.conf"), Site: filepath.Join(dir, "site.conf")}
	n.TestCmd = bin + " -t -q " + nginxArgs(dir)
	n.ReloadCmd = bin + " -s reload " + nginxArgs(dir)
	if err := os.WriteFile(n.Conf, []byte(minimalNginxConf(dir, n.Site)), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Port = testenv.FreePort(t)
	site, err := RenderListen(discovery.Model{}, DefaultTemplate(), "127.0.0.1", n.Port)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.Site, site, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, strings.Fields(nginxArgs(dir))...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	waitFor(t, 10*time.Second, "nginx to listen", func() bool {
		code, _, err := n.get("nobody.invalid", "/")
		return err == nil && code == http.StatusNotFound
	})
	return n
}

// get fetches path through nginx with the given Host header.
func (n *nginxServer) get(host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", n.Port, path), nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitFor polls cond until it holds or timeout passes; the timeout only
// bounds a hang, it asserts no speed.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runWatch starts Watch against the real engine and nginx; stop ends it.
func runWatch(t testing.TB, c *client.Client, n *nginxServer, stack string, tmpl *Template, timing Timing, met *Metrics, logs io.Writer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(logs, nil)).With("component", "watch")
	src := &discovery.EngineSource{Engine: c, Options: discovery.Options{Stacks: []string{stack}}, Logger: log}
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, WatchConfig{Source: src, Template: tmpl, HTTPPort: n.Port, ListenAddr: "127.0.0.1",
			Applier: &Applier{Path: n.Site, TestCommand: n.TestCmd, ReloadCommand: n.ReloadCmd},
			Timing:  timing, Logger: log, Metrics: met})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("watch: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// createWebService creates STACK_web from image with one host-mode port
// (random published port per task) and routing labels.
func createWebService(t testing.TB, c *client.Client, stack, image string, targetPort uint32, labels map[string]string) string {
	t.Helper()
	one := uint64(1)
	l := map[string]string{discovery.LabelStack: stack}
	for k, v := range labels {
		l[k] = v
	}
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: stack + "_web", Labels: l},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image, Env: []string{"VERSION=e2e"}}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: targetPort, PublishMode: swarm.PortConfigPublishModeHost}}},
	}
	res, err := c.ServiceCreate(context.Background(), client.ServiceCreateOptions{Spec: spec})
	if err != nil {
		t.Fatalf("create service %s_web: %v", stack, err)
	}
	id := res.ID
	t.Cleanup(func() { removeService(t, c, id) })
	return id
}

// scale sets the service's replica count.
func scale(t testing.TB, c *client.Client, id string, n uint64) {
	t.Helper()
	ctx := context.Background()
	for attempt := 0; ; attempt++ {
		s, err := c.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
		if err != nil {
			t.Fatalf("inspect service: %v", err)
		}
		spec := s.Service.Spec
		spec.Mode.Replicated.Replicas = &n
		_, err = c.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: s.Service.Version, Spec: spec})
		if err == nil {
			return
		}
		if attempt == 5 || !strings.Contains(err.Error(), "out of sequence") {
			t.Fatalf("scale service to %d: %v", n, err)
		}
	}
}

// runningTasks lists the service's tasks that run and should.
func runningTasks(t testing.TB, c *client.Client, id string) []swarm.Task {
	t.Helper()
	res, err := c.TaskList(context.Background(), client.TaskListOptions{Filters: make(client.Filters).Add("service", id).Add("desired-state", "running")})
	if err != nil {
		t.Fatalf("list tasks: %v", err)
	}
	var out []swarm.Task
	for _, tk := range res.Items {
		if tk.Status.State == swarm.TaskStateRunning {
			out = append(out, tk)
		}
	}
	return out
}

// upstreamServers counts "server" lines of upstream name in the file.
func upstreamServers(t testing.TB, path, name string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	ds, err := parseConfig(string(b))
	if err != nil {
		t.Fatalf("config on disk does not parse: %v", err)
	}
	for _, d := range ds {
		if d.name == "upstream" && len(d.args) == 1 && d.args[0] == name {
			return len(d.children)
		}
	}
	return 0
}

// removeService removes the service and waits (up to a minute) until its
// containers are gone, so the image can be untagged after it.
func removeService(t testing.TB, c *client.Client, id string) {
	ctx := context.Background()
	if _, err := c.ServiceRemove(ctx, id, client.ServiceRemoveOptions{}); err != nil && !strings.Contains(err.Error(), "not found") {
		t.Logf("cleanup: remove service %s: %v", id, err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		res, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "com.docker.swarm.service.id="+id)})
		if err != nil || len(res.Items) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}
