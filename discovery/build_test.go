package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

func threeNodes() []swarm.Node {
	return []swarm.Node{
		node("n3", "10.0.0.3", nodeLabel("zone", "b")),
		node("n1", "10.0.0.1", nodeLabel("zone", "a")),
		node("n2", "10.0.0.2", nodeLabel("zone", "a")),
	}
}

func TestBuildIngress(t *testing.T) {
	nodes := append(threeNodes(), node("n4", "10.0.0.4", nodeDown), node("n5", "10.0.0.5", nodeDrained))
	svcs := []swarm.Service{service("s1", "shop_web", stack("shop"), ingressPort(80, 30000), label(LabelHost, "Shop.Example.COM"))}
	m, warn := Build(nodes, svcs, nil, Options{})
	if len(warn) != 0 {
		t.Fatalf("warnings: %v", warn)
	}
	want := Model{Services: []Service{{
		Stack: "shop", Name: "shop_web", Settling: true, // no running task yet
		Upstreams: []Upstream{{Name: "shop_web", TargetPort: 80, Servers: []Server{
			{Addr: "10.0.0.1", Port: 30000, Node: "host-n1"}, {Addr: "10.0.0.2", Port: 30000, Node: "host-n2"}, {Addr: "10.0.0.3", Port: 30000, Node: "host-n3"},
		}}},
		Routes: []Route{{Host: "shop.example.com", Path: "/", Upstream: "shop_web"}},
	}}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("model\n got %+v\nwant %+v", m, want)
	}

	m, _ = Build(nodes, svcs, nil, Options{NodeLabels: map[string]string{"zone": "a"}, NodeAddr: NodeAddrHostname})
	got := m.Services[0].Upstreams[0].Servers
	if want := []Server{{Addr: "host-n1", Port: 30000, Node: "host-n1"}, {Addr: "host-n2", Port: 30000, Node: "host-n2"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("node-label + hostname servers: got %v want %v", got, want)
	}
}

func TestBuildHostMode(t *testing.T) {
	svcs := []swarm.Service{service("s1", "shop_api", stack("shop"), replicas(3), hostPort(8080, 0), label(LabelPath, "/api/"))}
	tasks := []swarm.Task{
		task("t1", "s1", "n2", swarm.TaskStateRunning, taskHostPort(8080, 31002), taskHostPort(8080, 31012), slot(1)), // IPv4 + IPv6 ports
		task("t2", "s1", "n1", swarm.TaskStateRunning, taskHostPort(8080, 31001), slot(2)),
		task("t3", "s1", "n3", swarm.TaskStateStarting, taskHostPort(8080, 31003)),
		task("t4", "s1", "n3", swarm.TaskStateRunning, taskHostPort(8080, 31004), desired(swarm.TaskStateShutdown)),
		task("t5", "other", "n3", swarm.TaskStateRunning, taskHostPort(8080, 31005)),
	}
	m, warn := Build(threeNodes(), svcs, tasks, Options{})
	if len(warn) != 0 {
		t.Fatalf("warnings: %v", warn)
	}
	s := m.Services[0]
	want := []Server{
		{Addr: "10.0.0.1", Port: 31001, Node: "host-n1", Task: "shop_api.2", TaskID: "t2"},
		{Addr: "10.0.0.2", Port: 31002, Node: "host-n2", Task: "shop_api.1", TaskID: "t1"},
	}
	if !reflect.DeepEqual(s.Upstreams[0].Servers, want) {
		t.Fatalf("servers: got %v want %v", s.Upstreams[0].Servers, want)
	}
	if !s.Settling || !m.Settling() {
		t.Fatal("a service with a task still starting must be settling")
	}
	if want := []Route{{Host: "", Path: "/api/", Upstream: "shop_api"}}; !reflect.DeepEqual(s.Routes, want) {
		t.Fatalf("routes: got %v want %v", s.Routes, want)
	}

	tasks[2].Status.State = swarm.TaskStateRunning
	tasks = slices.Delete(tasks, 3, 4)
	m, _ = Build(threeNodes(), svcs, tasks, Options{})
	if m.Settling() {
		t.Fatal("3 of 3 running and no update: not settling")
	}
	if n := len(m.Services[0].Upstreams[0].Servers); n != 3 {
		t.Fatalf("want 3 servers, got %d", n)
	}
}

// TestBuildHostModeNodeStates keeps the servers of nodes whose state a new
// leader does not know yet, and drops those of nodes known to be down.
func TestBuildHostModeNodeStates(t *testing.T) {
	svcs := []swarm.Service{service("s1", "shop_api", stack("shop"), replicas(3), hostPort(8080, 0))}
	tasks := []swarm.Task{
		task("t1", "s1", "n1", swarm.TaskStateRunning, taskHostPort(8080, 31001)),
		task("t2", "s1", "n2", swarm.TaskStateRunning, taskHostPort(8080, 31002)),
		task("t3", "s1", "n3", swarm.TaskStateRunning, taskHostPort(8080, 31003)),
	}
	nodes := threeNodes()
	nodes[1].Status.State = swarm.NodeStateUnknown      // n1
	nodes[2].Status.State = swarm.NodeStateDown         // n2
	nodes[0].Status.State = swarm.NodeStateDisconnected // n3
	m, _ := Build(nodes, svcs, tasks, Options{})
	if want := []Server{{Addr: "10.0.0.1", Port: 31001, Node: "host-n1", Task: "shop_api.n1", TaskID: "t1"}}; !reflect.DeepEqual(m.Services[0].Upstreams[0].Servers, want) {
		t.Fatalf("servers: got %v want %v (unknown kept, down and disconnected dropped)", m.Services[0].Upstreams[0].Servers, want)
	}
}

func TestBuildTasksBackend(t *testing.T) {
	svcs := []swarm.Service{
		service("s1", "shop_web", stack("shop"), label(LabelPort, "8080"), label(LabelHost, "shop.example")),
		service("s2", "shop_db", stack("shop")), // no ports, no labels: not an upstream, a warning
	}
	tasks := []swarm.Task{
		task("t1", "s1", "n1", swarm.TaskStateRunning, taskIP("netid", "shop_front", "10.0.9.12/24"), taskIP("other", "ingress", "10.255.0.5/16")),
		task("t2", "s1", "n2", swarm.TaskStateRunning, taskIP("netid", "shop_front", "10.0.9.3/24")),
		task("t3", "s2", "n2", swarm.TaskStateRunning, taskIP("netid", "shop_front", "10.0.9.4/24")),
	}
	for _, network := range []string{"shop_front", "netid"} {
		m, warn := Build(threeNodes(), svcs, tasks, Options{Backend: BackendTasks, Network: network})
		var unroutable *UnroutableError
		if len(warn) != 1 || !errors.As(warn[0], &unroutable) || unroutable.Service != "shop_db" || !strings.Contains(warn[0].Error(), LabelPort+"=PORT") {
			t.Fatalf("warnings: %v; want shop_db named as unroutable, with the fix", warn)
		}
		if len(m.Services) != 1 {
			t.Fatalf("want only shop_web, got %+v", m.Services)
		}
		want := []Server{ // tasks without a slot (a global service's) are named after their node
			{Addr: "10.0.9.3", Port: 8080, Node: "host-n2", Task: "shop_web.n2", TaskID: "t2"},
			{Addr: "10.0.9.12", Port: 8080, Node: "host-n1", Task: "shop_web.n1", TaskID: "t1"},
		}
		if got := m.Services[0].Upstreams[0].Servers; !reflect.DeepEqual(got, want) {
			t.Fatalf("network %s: got %v want %v", network, got, want)
		}
	}
}

func TestBuildSeveralPortsAndStacks(t *testing.T) {
	svcs := []swarm.Service{
		service("s3", "blog_web", stack("blog"), ingressPort(80, 30080)),
		service("s1", "shop_web", stack("shop"), ingressPort(9090, 30091), ingressPort(80, 30090), udpPort(53, 30053), label(LabelPort, "80"), label(LabelHost, "shop.example")),
		service("s2", "loose", ingressPort(80, 30070)),
	}
	nodes := []swarm.Node{node("n1", "10.0.0.1")}
	m, warn := Build(nodes, svcs, nil, Options{})
	if len(warn) != 0 {
		t.Fatalf("warnings: %v", warn)
	}
	var names []string
	for _, s := range m.Services {
		for _, u := range s.Upstreams {
			names = append(names, u.Name)
		}
	}
	if want := []string{"blog_web", "loose", "shop_web_80", "shop_web_9090"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("upstreams: got %v want %v", names, want)
	}
	if r := m.Services[2].Routes; len(r) != 1 || r[0].Upstream != "shop_web_80" {
		t.Fatalf("route must go to the labelled port: %v", r)
	}

	m, _ = Build(nodes, svcs, nil, Options{Stacks: []string{"blog"}})
	if len(m.Services) != 1 || m.Services[0].Name != "blog_web" {
		t.Fatalf("stack filter: %+v", m.Services)
	}
}

func TestBuildBadLabelsSkipOneService(t *testing.T) {
	cases := []struct {
		name  string
		opts  []func(*swarm.Service)
		label string
	}{
		{"host with space", []func(*swarm.Service){label(LabelHost, "a b")}, LabelHost},
		{"host injection", []func(*swarm.Service){label(LabelHost, "x;}server{")}, LabelHost},
		{"path not absolute", []func(*swarm.Service){label(LabelPath, "api")}, LabelPath},
		{"path with brace", []func(*swarm.Service){label(LabelPath, "/a{")}, LabelPath},
		{"path with variable", []func(*swarm.Service){label(LabelPath, "/$host")}, LabelPath},
		{"escape", []func(*swarm.Service){label(LabelPath, "/caf%C3%A9")}, LabelPath},
		{"unicode space", []func(*swarm.Service){label(LabelPath, "/a\u00a0b")}, LabelPath},
		{"newline", []func(*swarm.Service){label(LabelPath, "/a\nb")}, LabelPath},
		{"port not a number", []func(*swarm.Service){label(LabelPort, "http")}, LabelPort},
		{"port not published", []func(*swarm.Service){label(LabelPort, "81")}, LabelPort},
		{"port ambiguous", []func(*swarm.Service){ingressPort(81, 30081), label(LabelHost, "x.example")}, LabelPort},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := service("s1", "app_bad", append([]func(*swarm.Service){ingressPort(80, 30080)}, c.opts...)...)
			good := service("s2", "app_good", ingressPort(80, 30081), label(LabelHost, "good.example"))
			m, warn := Build([]swarm.Node{node("n1", "10.0.0.1")}, []swarm.Service{bad, good}, nil, Options{})
			if len(m.Services) != 1 || m.Services[0].Name != "app_good" {
				t.Fatalf("only the bad service must be skipped: %+v", m.Services)
			}
			var le *LabelError
			if len(warn) != 1 || !errors.As(warn[0], &le) || le.Label != c.label || le.Service != "app_bad" {
				t.Fatalf("want one label error on %s, got %v", c.label, warn)
			}
			if !strings.Contains(warn[0].Error(), "fix the label") {
				t.Fatalf("error must say the fix: %v", warn[0])
			}
		})
	}
}

func TestBuildConflicts(t *testing.T) {
	svcs := []swarm.Service{
		service("s1", "a_web", ingressPort(80, 30001), label(LabelHost, "same.example")),
		service("s2", "b_web", ingressPort(80, 30002), label(LabelHost, "same.example")),
		service("s3", "c", ingressPort(80, 30003), ingressPort(8080, 30004)),
		service("s4", "c_80", ingressPort(80, 30005)),
	}
	m, warn := Build([]swarm.Node{node("n1", "10.0.0.1")}, svcs, nil, Options{})
	if len(warn) != 2 {
		t.Fatalf("want 2 warnings (route clash, upstream clash), got %v", warn)
	}
	if len(m.Services) != 3 || len(m.Services[1].Routes) != 0 {
		t.Fatalf("b_web keeps its upstream but loses its route, c_80 is skipped: %+v", m.Services)
	}
}

func TestBuildIsStable(t *testing.T) {
	svcs := []swarm.Service{
		service("s2", "b", hostPort(80, 0)), service("s1", "a", ingressPort(80, 30001)),
	}
	tasks := []swarm.Task{
		task("t1", "s2", "n3", swarm.TaskStateRunning, taskHostPort(80, 1)),
		task("t2", "s2", "n1", swarm.TaskStateRunning, taskHostPort(80, 2)),
	}
	first, _ := Build(threeNodes(), svcs, tasks, Options{})
	want, _ := json.Marshal(first)
	for i := 0; i < 20; i++ {
		slices.Reverse(svcs)
		slices.Reverse(tasks)
		nodes := threeNodes()
		slices.Reverse(nodes)
		m, _ := Build(nodes, svcs, tasks, Options{})
		if got, _ := json.Marshal(m); string(got) != string(want) {
			t.Fatalf("input order changed the model:\n%s\n%s", got, want)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	for _, o := range []Options{{Backend: BackendTasks}, {Network: "x"}, {Backend: "dns"}, {NodeAddr: "fqdn"}} {
		if err := o.Check(); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
	if err := (Options{Backend: BackendTasks, Network: "x", NodeAddr: NodeAddrHostname}).Check(); err != nil {
		t.Error(err)
	}
}

func TestDiff(t *testing.T) {
	old := Model{Services: []Service{{Name: "a", Upstreams: []Upstream{{Name: "a", Servers: []Server{{Addr: "10.0.0.1", Port: 80}, {Addr: "10.0.0.2", Port: 80}}}}}}}
	cur := Model{Services: []Service{{Name: "a", Upstreams: []Upstream{{Name: "a", Servers: []Server{{Addr: "10.0.0.2", Port: 80, Task: "a.1"}, {Addr: "fe80::1", Port: 80}}}}}}}
	add, rm := cur.Diff(old)
	if !reflect.DeepEqual(add, []string{"a [fe80::1]:80"}) || !reflect.DeepEqual(rm, []string{"a 10.0.0.1:80"}) {
		t.Fatalf("diff: +%v -%v", add, rm)
	}
}

// fakeLister embeds the interface and overrides the list calls it needs,
// recording them, like docker/cli's stack/client_test.go fake.
type fakeLister struct {
	Lister
	nodes    []swarm.Node
	services []swarm.Service
	tasks    []swarm.Task
	failOn   string
	calls    []string
}

func (f *fakeLister) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	f.calls = append(f.calls, "nodes")
	if f.failOn == "nodes" {
		return client.NodeListResult{}, errors.New("boom")
	}
	return client.NodeListResult{Items: f.nodes}, nil
}

func (f *fakeLister) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	f.calls = append(f.calls, "services")
	if f.failOn == "services" {
		return client.ServiceListResult{}, errors.New("boom")
	}
	return client.ServiceListResult{Items: f.services}, nil
}

func (f *fakeLister) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	f.calls = append(f.calls, "tasks")
	if !o.Filters["desired-state"]["running"] {
		return client.TaskListResult{}, errors.New("task list must filter desired-state=running")
	}
	if f.failOn == "tasks" {
		return client.TaskListResult{}, errors.New("boom")
	}
	return client.TaskListResult{Items: f.tasks}, nil
}

func TestRead(t *testing.T) {
	f := &fakeLister{nodes: threeNodes(), services: []swarm.Service{service("s1", "a", ingressPort(80, 30001))}}
	m, warn, err := Read(context.Background(), f, Options{})
	if err != nil || len(warn) != 0 || len(m.Services) != 1 {
		t.Fatalf("read: %+v %v %v", m, warn, err)
	}
	if want := []string{"nodes", "services", "tasks"}; !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	for _, fail := range []string{"nodes", "services", "tasks"} {
		f := &fakeLister{nodes: threeNodes(), failOn: fail}
		m, _, err := Read(context.Background(), f, Options{})
		if err == nil || len(m.Services) != 0 {
			t.Fatalf("failing %s: want error and empty model, got %+v %v", fail, m, err)
		}
	}
}

// With the ingress backend, a service that publishes no port is named with
// the fix, not left out in silence.
func TestBuildNamesUnroutableService(t *testing.T) {
	svcs := []swarm.Service{service("s2", "shop_db", stack("shop"))}
	_, warn := Build(threeNodes(), svcs, nil, Options{})
	var unroutable *UnroutableError
	if len(warn) != 1 || !errors.As(warn[0], &unroutable) || unroutable.Service != "shop_db" || !strings.Contains(warn[0].Error(), "publish one") {
		t.Fatalf("warnings: %v; want shop_db named as unroutable, with the fix", warn)
	}
}
