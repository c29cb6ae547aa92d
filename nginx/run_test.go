package nginx

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/discovery"
)

// fakeSwarm serves fixed list results.
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

func TestRenderCommandCore(t *testing.T) {
	sw := oneServiceSwarm(map[string]string{discovery.LabelHost: "app.example"})
	var out, errw bytes.Buffer
	o := Options{HTTPPort: 8080}
	if err := render(context.Background(), sw, discovery.Options{}, DefaultTemplate(), o, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "server 10.0.0.1:30000;") || !strings.Contains(out.String(), "listen 8080;") {
		t.Fatalf("config:\n%s", out.String())
	}
	if !strings.Contains(errw.String(), `warning: service "app_bad": label deckhand.http.host="a b"`) {
		t.Fatalf("bad service must be reported on stderr, got %q", errw.String())
	}

	out.Reset()
	o.Format = "json"
	if err := render(context.Background(), sw, discovery.Options{}, DefaultTemplate(), o, &out, &errw); err != nil {
		t.Fatal(err)
	}
	var m discovery.Model
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || len(m.Services) != 1 || m.Services[0].Routes[0].Host != "app.example" {
		t.Fatalf("json model: %v\n%s", err, out.String())
	}
}

func TestApplyCommandCore(t *testing.T) {
	sw := oneServiceSwarm(nil)
	path := filepath.Join(t.TempDir(), "site.conf")
	r := &fakeRunner{path: path, fail: map[string]error{}}
	a := &Applier{Path: path, TestCommand: "nginx -t", ReloadCommand: "nginx -s reload", Runner: r}
	o := Options{HTTPPort: 80, Out: path}
	var out, errw bytes.Buffer
	for i, want := range []string{"written, tested and nginx reloaded (1 upstreams, 1 servers)", "is up to date"} {
		out.Reset()
		if err := apply(context.Background(), sw, discovery.Options{}, DefaultTemplate(), o, a, &out, &errw); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run %d: got %q, want %q", i, out.String(), want)
		}
	}
}

func TestOptionsChecks(t *testing.T) {
	for _, o := range []Options{
		{HTTPPort: 0},
		{HTTPPort: 80, Backend: "tasks"},
		{HTTPPort: 80, NodeLabels: []string{"nope"}},
	} {
		if _, err := o.discoveryOptions(); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
	if err := (Options{}).checkOut(); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("missing --out: %v", err)
	}
	if err := RunRender(context.Background(), Options{HTTPPort: 80, Format: "yaml"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("unknown format: want an error")
	}
}

func TestRunWatchWaitsForTheEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	ctx, cancel := context.WithCancel(context.Background())
	errw := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- RunWatch(ctx, Options{HTTPPort: 80, Out: filepath.Join(t.TempDir(), "site.conf")}, &bytes.Buffer{}, errw)
	}()
	waitFor(t, 30*time.Second, "the retry to be logged", func() bool { return strings.Contains(errw.String(), "engine not reachable yet; retrying") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("interrupted while waiting for the engine: want a clean exit, got %v", err)
	}
	if !strings.Contains(errw.String(), "component=watch") {
		t.Fatalf("logs must carry the component: %s", errw.String())
	}
}
