package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	swarmapi "github.com/moby/swarmkit/v2/api"
	"github.com/moby/swarmkit/v2/manager/constraint"
)

// placementWarnings names the services swarm will not be able to place,
// judged from the nodes alone, before anything is written: placement
// constraints no ready, active node meets, and more replicas publishing a
// host-mode port than nodes that can run them (a node binds a host-mode
// port once). Swarm would leave those tasks pending.
func placementWarnings(services map[string]swarm.ServiceSpec, nodes []swarm.Node) []string {
	var available []swarm.Node
	for _, n := range nodes {
		if n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive {
			available = append(available, n)
		}
	}
	var warnings []string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		spec := services[name]
		replicas := -1 // global: one task per eligible node
		if r := spec.Mode.Replicated; r != nil && r.Replicas != nil {
			replicas = int(*r.Replicas)
		}
		if replicas == 0 {
			continue
		}
		eligible := available
		if p := spec.TaskTemplate.Placement; p != nil && len(p.Constraints) > 0 {
			cs, err := constraint.Parse(p.Constraints)
			if err != nil {
				continue // the engine rejects the service with its own error
			}
			eligible = nil
			for _, n := range available {
				if constraint.NodeMatches(cs, swarmkitNode(n)) {
					eligible = append(eligible, n)
				}
			}
			if len(eligible) == 0 {
				warnings = append(warnings, fmt.Sprintf("service %s: no ready, active node meets its placement constraints %s (nodes: %s), so its tasks would stay pending; label a node (docker node update --label-add) or change the constraints",
					name, strings.Join(p.Constraints, ", "), nodeSummary(nodes)))
				continue
			}
		}
		var hostPorts []string
		if spec.EndpointSpec != nil {
			for _, p := range spec.EndpointSpec.Ports {
				if p.PublishMode == swarm.PortConfigPublishModeHost && p.PublishedPort != 0 {
					hostPorts = append(hostPorts, fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol))
				}
			}
		}
		if len(hostPorts) > 0 && replicas > len(eligible) {
			warnings = append(warnings, fmt.Sprintf("service %s publishes %s in host mode with %d replicas, but only %d node(s) can run it: %d task(s) would stay pending (a node binds a host-mode port once); lower the replicas, add nodes or publish in ingress mode",
				name, strings.Join(hostPorts, ", "), replicas, len(eligible), replicas-len(eligible)))
		}
	}
	return warnings
}

// swarmkitNode is what swarmkit's constraint matcher reads of a node.
func swarmkitNode(n swarm.Node) *swarmapi.Node {
	out := &swarmapi.Node{
		ID: n.ID,
		Description: &swarmapi.NodeDescription{
			Hostname: n.Description.Hostname,
			Platform: &swarmapi.Platform{OS: n.Description.Platform.OS, Architecture: n.Description.Platform.Architecture},
			Engine:   &swarmapi.EngineDescription{Labels: n.Description.Engine.Labels},
		},
		Spec:   swarmapi.NodeSpec{Annotations: swarmapi.Annotations{Labels: n.Spec.Labels}},
		Status: swarmapi.NodeStatus{Addr: n.Status.Addr},
		Role:   swarmapi.NodeRoleWorker,
	}
	if n.Spec.Role == swarm.NodeRoleManager {
		out.Role = swarmapi.NodeRoleManager
	}
	return out
}

// listedNodes answers NodeList from one earlier list of every node, so that
// the quorum check and the placement check share a single engine call.
type listedNodes struct {
	res client.NodeListResult
	err error
}

func (l listedNodes) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return l.res, l.err
}
