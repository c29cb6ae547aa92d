package discovery

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Service labels that carry routing (set them under deploy.labels).
const (
	LabelHost = "deckhand.http.host" // virtual host the service answers for
	LabelPath = "deckhand.http.path" // location prefix, default "/"
	LabelPort = "deckhand.http.port" // target port to route to when the service has several
	// LabelStack is the label docker stack deploy puts on every object of a stack.
	LabelStack = "com.docker.stack.namespace"
)

// Model is the routing state of the swarm: every selected service, sorted by name.
type Model struct {
	Services []Service `json:"services"`
}

// Service is one swarm service with its upstreams and routes.
type Service struct {
	Stack     string     `json:"stack"`
	Name      string     `json:"name"`
	Upstreams []Upstream `json:"upstreams"`
	Routes    []Route    `json:"routes"`
	// Settling is true while the service is updating or has fewer running
	// tasks than desired; watchers poll faster then.
	Settling bool `json:"settling"`
}

// Upstream is the set of servers behind one target port of a service.
type Upstream struct {
	Name       string   `json:"name"`
	TargetPort uint32   `json:"target_port"`
	Servers    []Server `json:"servers"`
}

// Server is one address:port that serves an upstream, with what stands
// behind it for people reading the routing (nginx only needs the address).
type Server struct {
	Addr string `json:"addr"`
	Port uint32 `json:"port"`
	// Node is the host name of the node the address belongs to ("" when
	// unknown).
	Node string `json:"node,omitempty"`
	// Task is the task that serves the address, named as docker service ps
	// names it ("app_web.2"); "" for an ingress port, where the routing mesh
	// picks a task per connection.
	Task string `json:"task,omitempty"`
	// TaskID is the ID of Task ("" with it).
	TaskID string `json:"task_id,omitempty"`
}

// String is the server in nginx's host:port form.
func (s Server) String() string {
	if strings.Contains(s.Addr, ":") {
		return "[" + s.Addr + "]:" + strconv.FormatUint(uint64(s.Port), 10)
	}
	return s.Addr + ":" + strconv.FormatUint(uint64(s.Port), 10)
}

// Route sends requests for Host (empty: any host) and Path prefix to Upstream.
type Route struct {
	Host     string `json:"host"`
	Path     string `json:"path"`
	Upstream string `json:"upstream"`
}

// Settling reports whether any service is still updating or converging.
func (m Model) Settling() bool {
	return slices.ContainsFunc(m.Services, func(s Service) bool { return s.Settling })
}

// Upstream returns the upstream named name, if any.
func (m Model) Upstream(name string) (Upstream, bool) {
	for _, s := range m.Services {
		for _, u := range s.Upstreams {
			if u.Name == name {
				return u, true
			}
		}
	}
	return Upstream{}, false
}

// Diff lists the servers added to and removed from upstreams between old and
// m, as sorted "upstream server" strings.
func (m Model) Diff(old Model) (added, removed []string) {
	set := func(mm Model) map[string]bool {
		out := map[string]bool{}
		for _, s := range mm.Services {
			for _, u := range s.Upstreams {
				for _, srv := range u.Servers {
					out[u.Name+" "+srv.String()] = true
				}
			}
		}
		return out
	}
	now, before := set(m), set(old)
	for k := range now {
		if !before[k] {
			added = append(added, k)
		}
	}
	for k := range before {
		if !now[k] {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// LabelError says which service label is wrong and why.
type LabelError struct {
	Service string
	Label   string
	Value   string
	Reason  string
}

func (e *LabelError) Error() string {
	return fmt.Sprintf("service %q: label %s=%q %s; fix the label under deploy.labels and redeploy", e.Service, e.Label, e.Value, e.Reason)
}

// Backend is where the servers of an upstream come from.
type Backend string

// Backends.
const (
	BackendPublished Backend = "published" // node addresses × published ports (ingress or host mode)
	BackendTasks     Backend = "tasks"     // task IPs on Options.Network × target ports
)

// UnroutableError is a service left out because nginx cannot reach it: it
// publishes no TCP port (with the tasks backend: it has no port label and
// no single target port).
type UnroutableError struct {
	Service string
	Backend Backend
}

func (e *UnroutableError) Error() string {
	if e.Backend == BackendTasks {
		return fmt.Sprintf("service %q has no port nginx can route to; label it %s=PORT (the port its tasks listen on) or publish one port, and redeploy", e.Service, LabelPort)
	}
	return fmt.Sprintf("service %q publishes no TCP port, so nginx cannot route to it; publish one (ports: in the compose file) or use the tasks backend with a %s label, and redeploy", e.Service, LabelPort)
}
