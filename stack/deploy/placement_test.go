package deploy

import (
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

func TestPlacementWarnings(t *testing.T) {
	node := func(host string, role swarm.NodeRole, state swarm.NodeState, avail swarm.NodeAvailability, labels map[string]string) swarm.Node {
		return swarm.Node{Description: swarm.NodeDescription{Hostname: host},
			Spec:   swarm.NodeSpec{Role: role, Availability: avail, Annotations: swarm.Annotations{Labels: labels}},
			Status: swarm.NodeStatus{State: state}}
	}
	nodes := []swarm.Node{
		node("node1", swarm.NodeRoleManager, swarm.NodeStateReady, swarm.NodeAvailabilityActive, map[string]string{"zone": "a"}),
		node("node2", swarm.NodeRoleWorker, swarm.NodeStateReady, swarm.NodeAvailabilityDrain, map[string]string{"zone": "b"}),
		node("node3", swarm.NodeRoleWorker, swarm.NodeStateDown, swarm.NodeAvailabilityActive, map[string]string{"zone": "b"}),
	}
	replicated := func(n uint64, constraints []string, ports ...swarm.PortConfig) swarm.ServiceSpec {
		return swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
			TaskTemplate: swarm.TaskSpec{Placement: &swarm.Placement{Constraints: constraints}},
			EndpointSpec: &swarm.EndpointSpec{Ports: ports}}
	}
	host := swarm.PortConfig{Protocol: network.TCP, TargetPort: 80, PublishedPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}
	ingress := host
	ingress.PublishMode = swarm.PortConfigPublishModeIngress
	global := replicated(0, nil, host)
	global.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	got := placementWarnings(map[string]swarm.ServiceSpec{
		"s_two_on_one_port": replicated(2, nil, host),
		"s_zone_b":          replicated(1, []string{"node.labels.zone==b"}), // only on a drained and a down node
		"s_manager_port":    replicated(1, []string{"node.role==manager"}, host),
		"s_ingress":         replicated(3, nil, ingress),
		"s_global_port":     global,
		"s_scaled_to_zero":  replicated(0, []string{"node.labels.zone==c"}),
	}, nodes)
	want := []string{
		"service s_two_on_one_port publishes 8080/tcp in host mode with 2 replicas, but only 1 node(s) can run it: 1 task(s) would stay pending",
		"service s_zone_b: no ready, active node meets its placement constraints node.labels.zone==b (nodes: node1 (manager, ready, active, labels zone=a); node2 (worker, ready, drain, labels zone=b); node3 (worker, down, active, labels zone=b))",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %d:\n%s\nwant it to start with\n%s", i, got[i], want[i])
		}
	}
}
