package discovery

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/moby/moby/api/types/swarm"
)

// NodeAddr is which address of a node ingress and host-mode servers use.
type NodeAddr string

// Node address kinds.
const (
	NodeAddrIP       NodeAddr = "addr"     // the node's Status.Addr
	NodeAddrHostname NodeAddr = "hostname" // the node's Description.Hostname
)

// Options select the services and say how their servers are found.
type Options struct {
	// Stacks keeps only services of these stacks (com.docker.stack.namespace); empty keeps all.
	Stacks []string
	// NodeLabels keeps only nodes carrying all these labels for ingress-mode ports.
	NodeLabels map[string]string
	// NodeAddr is NodeAddrIP (default) or NodeAddrHostname.
	NodeAddr NodeAddr
	// Backend is BackendPublished (default) or BackendTasks.
	Backend Backend
	// Network is the network (name or ID) whose task IPs BackendTasks uses.
	Network string
}

// Check reports options that cannot work together.
func (o Options) Check() error {
	switch o.Backend {
	case "", BackendPublished:
		if o.Network != "" {
			return errors.New("a network only applies to the tasks backend: drop it, or use the tasks backend")
		}
	case BackendTasks:
		if o.Network == "" {
			return errors.New("the tasks backend needs the overlay network nginx shares with the services")
		}
	default:
		return fmt.Errorf("unknown backend %q; use %q or %q", o.Backend, BackendPublished, BackendTasks)
	}
	switch o.NodeAddr {
	case "", NodeAddrIP, NodeAddrHostname:
	default:
		return fmt.Errorf("unknown node address kind %q; use %q or %q", o.NodeAddr, NodeAddrIP, NodeAddrHostname)
	}
	return nil
}

// port is one TCP port of a service as discovery sees it.
type port struct {
	target    uint32
	published uint32
	mode      swarm.PortConfigPublishMode
}

// Build turns listed nodes, services and tasks into the routing model. It is
// pure: the same inputs always give the same model. Services with a bad label
// are left out and reported in the returned warnings.
func Build(nodes []swarm.Node, services []swarm.Service, tasks []swarm.Task, opts Options) (Model, []error) {
	var warnings []error
	nodeByID := make(map[string]swarm.Node, len(nodes))
	nodeAddr := make(map[string]string, len(nodes))
	for _, n := range nodes {
		nodeByID[n.ID] = n
		a, err := addrOf(n, opts.NodeAddr)
		if err != nil {
			warnings = append(warnings, err)
			continue
		}
		nodeAddr[n.ID] = a
	}
	var ingress []Server // the nodes' addresses, without a port yet
	for _, n := range nodes {
		a, ok := nodeAddr[n.ID]
		if ok && n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive && labelsMatch(n.Spec.Labels, opts.NodeLabels) {
			ingress = append(ingress, Server{Addr: a, Node: n.Description.Hostname})
		}
	}
	tasksBySvc := map[string][]swarm.Task{}
	for _, t := range tasks {
		tasksBySvc[t.ServiceID] = append(tasksBySvc[t.ServiceID], t)
	}

	svcs := slices.Clone(services)
	slices.SortFunc(svcs, func(a, b swarm.Service) int {
		return cmp.Or(cmp.Compare(a.Spec.Name, b.Spec.Name), cmp.Compare(a.ID, b.ID))
	})
	var m Model
	upstreamOwner := map[string]string{}
	routeOwner := map[string]string{}
	for _, s := range svcs {
		stack := s.Spec.Labels[LabelStack]
		if len(opts.Stacks) > 0 && !slices.Contains(opts.Stacks, stack) {
			continue
		}
		svc, err := buildService(s, tasksBySvc[s.ID], nodeByID, nodeAddr, ingress, opts)
		if err != nil {
			warnings = append(warnings, err)
			continue
		}
		if svc == nil {
			continue
		}
		if clash := slices.IndexFunc(svc.Upstreams, func(u Upstream) bool { return upstreamOwner[u.Name] != "" }); clash >= 0 {
			u := svc.Upstreams[clash].Name
			warnings = append(warnings, fmt.Errorf("service %q: upstream name %q is already used by service %q; rename one of them", svc.Name, u, upstreamOwner[u]))
			continue
		}
		for _, u := range svc.Upstreams {
			upstreamOwner[u.Name] = svc.Name
		}
		routes := svc.Routes[:0]
		for _, r := range svc.Routes {
			key := r.Host + " " + r.Path
			if owner := routeOwner[key]; owner != "" {
				warnings = append(warnings, fmt.Errorf("service %q: route host %q path %q is already taken by service %q; its route is left out, change %s or %s on one of them", svc.Name, r.Host, r.Path, owner, LabelHost, LabelPath))
				continue
			}
			routeOwner[key] = svc.Name
			routes = append(routes, r)
		}
		svc.Routes = routes
		m.Services = append(m.Services, *svc)
	}
	return m, warnings
}

func buildService(s swarm.Service, tasks []swarm.Task, nodeByID map[string]swarm.Node, nodeAddr map[string]string, ingress []Server, opts Options) (*Service, error) {
	name := s.Spec.Name
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("service %q: name %w; rename the service", name, err)
	}
	labels := s.Spec.Labels
	host, hasHost := labels[LabelHost]
	path, hasPath := labels[LabelPath]
	portLabel, hasPort := labels[LabelPort]
	routed := hasHost || hasPath || hasPort
	if hasHost {
		h, err := NormalizeHost(host)
		if err != nil {
			return nil, &LabelError{Service: name, Label: LabelHost, Value: host, Reason: err.Error()}
		}
		host = h
	}
	if !hasPath {
		path = "/"
	} else if err := ValidPath(path); err != nil {
		return nil, &LabelError{Service: name, Label: LabelPath, Value: path, Reason: err.Error()}
	}
	var want uint32
	if hasPort {
		p, err := parsePort(portLabel)
		if err != nil {
			return nil, &LabelError{Service: name, Label: LabelPort, Value: portLabel, Reason: err.Error()}
		}
		want = p
	}

	ports := servicePorts(s, opts.Backend == BackendTasks)
	if opts.Backend == BackendTasks && want != 0 && !slices.ContainsFunc(ports, func(p port) bool { return p.target == want }) {
		ports = append(ports, port{target: want})
		slices.SortFunc(ports, func(a, b port) int { return cmp.Compare(a.target, b.target) })
	}
	if len(ports) == 0 {
		if routed {
			return nil, fmt.Errorf("service %q has %s labels but no published TCP port; publish the port, or route to the tasks themselves (the tasks backend) with %s", name, "deckhand.http.*", LabelPort)
		}
		return nil, &UnroutableError{Service: name, Backend: opts.Backend}
	}
	if want != 0 && !slices.ContainsFunc(ports, func(p port) bool { return p.target == want }) {
		return nil, &LabelError{Service: name, Label: LabelPort, Value: portLabel, Reason: "is not a published target port of the service"}
	}
	if routed && want == 0 {
		if len(ports) > 1 {
			return nil, &LabelError{Service: name, Label: LabelPort, Value: "", Reason: "is required because the service publishes several ports"}
		}
		want = ports[0].target
	}

	running := runningTasks(tasks)
	svc := &Service{Stack: labels[LabelStack], Name: name, Settling: settling(s, tasks)}
	for _, p := range ports {
		u := Upstream{Name: name, TargetPort: p.target, Servers: []Server{}}
		if len(ports) > 1 {
			u.Name = name + "_" + strconv.FormatUint(uint64(p.target), 10)
		}
		switch {
		case opts.Backend == BackendTasks:
			u.Servers = taskServers(name, running, nodeByID, opts.Network, p.target)
		case p.mode == swarm.PortConfigPublishModeHost:
			u.Servers = hostServers(name, running, nodeByID, nodeAddr, p.target)
		default:
			for _, n := range ingress {
				n.Port = p.published
				u.Servers = append(u.Servers, n)
			}
		}
		SortServers(u.Servers)
		u.Servers = slices.CompactFunc(u.Servers, sameAddress)
		svc.Upstreams = append(svc.Upstreams, u)
		if routed && p.target == want {
			svc.Routes = append(svc.Routes, Route{Host: host, Path: path, Upstream: u.Name})
		}
	}
	if svc.Routes == nil {
		svc.Routes = []Route{}
	}
	return svc, nil
}

// servicePorts lists the service's TCP ports, one per target port. With
// anyPort, unpublished ports count too (their target port is what tasks serve).
func servicePorts(s swarm.Service, anyPort bool) []port {
	cfgs := s.Endpoint.Ports
	if len(cfgs) == 0 && s.Spec.EndpointSpec != nil {
		cfgs = s.Spec.EndpointSpec.Ports
	}
	var out []port
	for _, c := range cfgs {
		if c.Protocol != "" && c.Protocol != "tcp" {
			continue
		}
		if c.TargetPort == 0 {
			continue
		}
		mode := c.PublishMode
		if mode == "" {
			mode = swarm.PortConfigPublishModeIngress
		}
		if !anyPort && mode == swarm.PortConfigPublishModeIngress && c.PublishedPort == 0 {
			continue
		}
		out = append(out, port{target: c.TargetPort, published: c.PublishedPort, mode: mode})
	}
	slices.SortFunc(out, func(a, b port) int {
		return cmp.Or(cmp.Compare(a.target, b.target), cmp.Compare(a.mode, b.mode), cmp.Compare(a.published, b.published))
	})
	return slices.CompactFunc(out, func(a, b port) bool { return a.target == b.target })
}

func runningTasks(tasks []swarm.Task) []swarm.Task {
	var out []swarm.Task
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning {
			out = append(out, t)
		}
	}
	return out
}

// mayServe reports whether a node's running tasks may still take traffic: a
// ready node, or one whose state the managers do not know yet (a newly
// elected leader reports every node "unknown" until heartbeats arrive, and
// dropping them all would empty every upstream). A node known to be down or
// disconnected may not.
func mayServe(n swarm.Node) bool {
	return n.Status.State == swarm.NodeStateReady || n.Status.State == swarm.NodeStateUnknown
}

// taskName is the name docker service ps shows for a task of service:
// "service.slot" for a replicated service, "service.nodeID" for a global one.
func taskName(service string, t swarm.Task) string {
	if t.Slot != 0 {
		return service + "." + strconv.Itoa(t.Slot)
	}
	return service + "." + t.NodeID
}

// taskServer is the server at addr:port that task t of service serves.
func taskServer(service string, t swarm.Task, nodeByID map[string]swarm.Node, addr string, port uint32) Server {
	return Server{Addr: addr, Port: port, Node: nodeByID[t.NodeID].Description.Hostname, Task: taskName(service, t), TaskID: t.ID}
}

func hostServers(service string, tasks []swarm.Task, nodeByID map[string]swarm.Node, nodeAddr map[string]string, target uint32) []Server {
	out := []Server{}
	for _, t := range tasks {
		a, ok := nodeAddr[t.NodeID]
		if !ok || !mayServe(nodeByID[t.NodeID]) {
			continue
		}
		// Engine 20.10 may list one port per address family (IPv4 and IPv6,
		// with different random numbers); both reach the task, take the first.
		for _, p := range t.Status.PortStatus.Ports {
			if p.TargetPort == target && (p.Protocol == "" || p.Protocol == "tcp") && p.PublishedPort != 0 {
				out = append(out, taskServer(service, t, nodeByID, a, p.PublishedPort))
				break
			}
		}
	}
	return out
}

func taskServers(service string, tasks []swarm.Task, nodeByID map[string]swarm.Node, network string, target uint32) []Server {
	out := []Server{}
	for _, t := range tasks {
		for _, na := range t.NetworksAttachments {
			if na.Network.ID != network && na.Network.Spec.Name != network {
				continue
			}
			for _, pfx := range na.Addresses {
				if pfx.IsValid() {
					out = append(out, taskServer(service, t, nodeByID, pfx.Addr().String(), target))
				}
			}
		}
	}
	return out
}

// settling reports whether the service is updating or not yet converged.
func settling(s swarm.Service, tasks []swarm.Task) bool {
	if s.UpdateStatus != nil && (s.UpdateStatus.State == swarm.UpdateStateUpdating || s.UpdateStatus.State == swarm.UpdateStateRollbackStarted) {
		return true
	}
	running := 0
	for _, t := range tasks {
		isRunning := t.Status.State == swarm.TaskStateRunning
		wantRunning := t.DesiredState == swarm.TaskStateRunning
		if isRunning != wantRunning && t.Status.State != swarm.TaskStateShutdown && t.Status.State != swarm.TaskStateFailed &&
			t.Status.State != swarm.TaskStateComplete && t.Status.State != swarm.TaskStateRejected && t.Status.State != swarm.TaskStateOrphaned {
			return true
		}
		if isRunning && wantRunning {
			running++
		}
	}
	if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil && uint64(running) != *r.Replicas {
		return true
	}
	return false
}

func addrOf(n swarm.Node, kind NodeAddr) (string, error) {
	var a string
	if kind == NodeAddrHostname {
		a = n.Description.Hostname
	} else {
		a = n.Status.Addr
		if (a == "" || a == "0.0.0.0") && n.ManagerStatus != nil {
			if h, _, err := net.SplitHostPort(n.ManagerStatus.Addr); err == nil {
				a = h
			}
		}
	}
	if err := ValidAddr(a); err != nil {
		return "", fmt.Errorf("node %q: address %q %w; it is left out of ingress and host-mode upstreams", n.ID, a, err)
	}
	return a, nil
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// sameAddress reports whether two servers are one address:port for nginx.
func sameAddress(a, b Server) bool { return a.Addr == b.Addr && a.Port == b.Port }

// SortServers sorts servers by address (IP addresses first, in address
// order, then host names) and port, then node and task, so that of
// servers at the same address the first is always the same one.
func SortServers(s []Server) {
	slices.SortFunc(s, func(a, b Server) int {
		aa, errA := netip.ParseAddr(a.Addr)
		ba, errB := netip.ParseAddr(b.Addr)
		c := 0
		switch {
		case errA == nil && errB == nil:
			c = aa.Compare(ba)
		case errA == nil:
			c = -1
		case errB == nil:
			c = 1
		default:
			c = cmp.Compare(a.Addr, b.Addr)
		}
		return cmp.Or(c, cmp.Compare(a.Port, b.Port), cmp.Compare(a.Node, b.Node), cmp.Compare(a.Task, b.Task), cmp.Compare(a.TaskID, b.TaskID))
	})
}
