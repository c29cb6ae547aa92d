package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/nginx"
)

// fakeSwarm is a discovery.Lister that serves fixed list results.
type fakeSwarm struct {
	discovery.Lister
	nodes    []swarm.Node
	services []swarm.Service
}

func (f *fakeSwarm) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: f.nodes}, nil
}

func (f *fakeSwarm) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	return client.ServiceListResult{Items: f.services}, nil
}

func (f *fakeSwarm) TaskList(context.Context, client.TaskListOptions) (client.TaskListResult, error) {
	return client.TaskListResult{}, nil
}

// oneServiceSwarm is one node and service app_web with labels, plus
// app_bad whose host label is invalid.
func oneServiceSwarm(labels map[string]string) *fakeSwarm {
	n := swarm.Node{ID: "n1"}
	n.Status.State, n.Status.Addr, n.Spec.Availability = swarm.NodeStateReady, "10.0.0.1", swarm.NodeAvailabilityActive
	s := swarm.Service{ID: "s1"}
	s.Spec.Name = "app_web"
	s.Spec.Labels = labels
	s.Endpoint.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 30000}}
	bad := swarm.Service{ID: "s2"}
	bad.Spec.Name = "app_bad"
	bad.Spec.Labels = map[string]string{discovery.LabelHost: "a b"}
	bad.Endpoint.Ports = s.Endpoint.Ports
	return &fakeSwarm{nodes: []swarm.Node{n}, services: []swarm.Service{s, bad}}
}

// recordingRunner is an nginx.Runner that records the commands it runs and
// runs none.
type recordingRunner struct{ calls []string }

func (r *recordingRunner) Run(_ context.Context, command string) ([]byte, error) {
	r.calls = append(r.calls, command)
	return nil, nil
}

func TestNginxRenderCore(t *testing.T) {
	sw := oneServiceSwarm(map[string]string{discovery.LabelHost: "app.example"})
	var out, errw bytes.Buffer
	o := nginxOptions{httpPort: 8080}
	if err := renderNginx(context.Background(), sw, testTarget, discovery.Options{}, nginx.DefaultTemplate(), o, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "server 10.0.0.1:30000;") || !strings.Contains(out.String(), "listen 8080;") {
		t.Fatalf("config:\n%s", out.String())
	}
	if !strings.Contains(errw.String(), `warning: service "app_bad": label deckhand.http.host="a b"`) {
		t.Fatalf("bad service must be reported on stderr, got %q", errw.String())
	}

	out.Reset()
	o.format = nginxFormatJSON
	if err := renderNginx(context.Background(), sw, testTarget, discovery.Options{}, nginx.DefaultTemplate(), o, &out, &errw); err != nil {
		t.Fatal(err)
	}
	var m struct {
		discovery.Model
		Target engineJSON
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || len(m.Services) != 1 || m.Services[0].Routes[0].Host != "app.example" || m.Target != testTarget {
		t.Fatalf("json model with target %+v: %v\n%s", testTarget, err, out.String())
	}
}

func TestNginxApplyCore(t *testing.T) {
	sw := oneServiceSwarm(nil)
	path := filepath.Join(t.TempDir(), "site.conf")
	r := &recordingRunner{}
	a := &nginx.Applier{Path: path, TestCommand: "nginx -t", ReloadCommand: "nginx -s reload", Runner: r}
	o := nginxOptions{httpPort: 80, out: path}
	var out, errw bytes.Buffer
	for i, want := range []string{path + " written, tested and nginx reloaded (1 upstreams, 1 servers)\n", path + " is up to date (1 upstreams, 1 servers)\n"} {
		out.Reset()
		if err := applyNginx(context.Background(), sw, discovery.Options{}, nginx.DefaultTemplate(), o, a, &out, &errw); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("run %d: got %q, want %q", i, out.String(), want)
		}
	}
	if len(r.calls) != 2 {
		t.Errorf("commands run: %q, want the test and the reload once", r.calls)
	}
}

func TestNginxOptionsChecks(t *testing.T) {
	for _, o := range []nginxOptions{
		{httpPort: 0},
		{httpPort: 80, backend: "tasks"},
		{httpPort: 80, nodeLabels: []string{"nope"}},
	} {
		if _, err := o.discoveryOptions(); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
	if _, err := (nginxOptions{httpPort: 80, listenAddr: "localhost"}).discoveryOptions(); err == nil || !strings.Contains(err.Error(), "--listen-addr") {
		t.Errorf("listen address: want an error naming --listen-addr, got %v", err)
	}
	if err := (nginxOptions{}).checkOut(); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("missing --out: %v", err)
	}
	if err := runNginxRender(context.Background(), nginxOptions{httpPort: 80, format: "yaml"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("unknown format: want an error")
	}
}

// TestNginxTemplateErrorsNameTheFlag: the library names the template, the
// command the flag that gave it.
func TestNginxTemplateErrorsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.tmpl")
	if err := os.WriteFile(broken, []byte("{{range}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		broken:                             "; fix the template (see --help of nginx render for its data)",
		filepath.Join(dir, "missing.tmpl"): "; check --template",
	} {
		if _, err := (nginxOptions{template: path}).loadTemplate(); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%s: error %v, want it to end in %q", filepath.Base(path), err, want)
		}
	}
	if tmpl, err := (nginxOptions{}).loadTemplate(); err != nil || tmpl == nil {
		t.Errorf("no --template: want the built-in template, got %v", err)
	}
}

// TestWatchWaitsForTheEngine: with no engine, watch logs that it retries
// and ends cleanly when interrupted.
func TestWatchWaitsForTheEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	ctx, cancel := context.WithCancel(context.Background())
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runWatch(ctx, nginxOptions{target: newTarget(pflag.NewFlagSet("test", pflag.ContinueOnError)), httpPort: 80, out: filepath.Join(t.TempDir(), "site.conf")}, logw)
	}()
	timeout := time.AfterFunc(30*time.Second, func() { logs.CloseWithError(errors.New("no retry logged in 30s")) })
	defer timeout.Stop()
	sc := bufio.NewScanner(logs)
	var retry string
	for retry == "" && sc.Scan() {
		if strings.Contains(sc.Text(), "engine not reachable yet; retrying") {
			retry = sc.Text()
		}
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, logs) }()
	if retry == "" {
		t.Fatalf("the retry was not logged: %v", sc.Err())
	}
	if err := <-done; err != nil {
		t.Fatalf("interrupted while waiting for the engine: want a clean exit, got %v", err)
	}
	if !strings.Contains(retry, "component=watch") {
		t.Fatalf("logs must carry the component: %s", retry)
	}
}

func TestParseNodeLabels(t *testing.T) {
	if _, err := parseNodeLabels([]string{"novalue"}); err == nil || !strings.Contains(err.Error(), "--node-label zone=edge") {
		t.Errorf("a filter without '=': err = %v, want one showing the --node-label form", err)
	}
	if l, err := parseNodeLabels([]string{"zone=a", "tier="}); err != nil || l["zone"] != "a" || l["tier"] != "" || len(l) != 2 {
		t.Errorf("got %v %v", l, err)
	}
}
