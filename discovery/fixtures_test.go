package discovery

import (
	"net/netip"

	"github.com/moby/moby/api/types/swarm"
)

// Fixture builders in the style of docker/cli's internal/test/builders.

func node(id, addr string, opts ...func(*swarm.Node)) swarm.Node {
	n := swarm.Node{ID: id}
	n.Description.Hostname = "host-" + id
	n.Status.State = swarm.NodeStateReady
	n.Status.Addr = addr
	n.Spec.Availability = swarm.NodeAvailabilityActive
	for _, o := range opts {
		o(&n)
	}
	return n
}

func nodeLabel(k, v string) func(*swarm.Node) {
	return func(n *swarm.Node) {
		if n.Spec.Labels == nil {
			n.Spec.Labels = map[string]string{}
		}
		n.Spec.Labels[k] = v
	}
}

func nodeDown(n *swarm.Node)    { n.Status.State = swarm.NodeStateDown }
func nodeDrained(n *swarm.Node) { n.Spec.Availability = swarm.NodeAvailabilityDrain }

func service(id, name string, opts ...func(*swarm.Service)) swarm.Service {
	s := swarm.Service{ID: id}
	s.Spec.Name = name
	s.Spec.Labels = map[string]string{}
	one := uint64(1)
	s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func stack(name string) func(*swarm.Service) {
	return label(LabelStack, name)
}

func label(k, v string) func(*swarm.Service) {
	return func(s *swarm.Service) { s.Spec.Labels[k] = v }
}

func replicas(n uint64) func(*swarm.Service) {
	return func(s *swarm.Service) { s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n} }
}

func ingressPort(target, published uint32) func(*swarm.Service) {
	return func(s *swarm.Service) {
		s.Endpoint.Ports = append(s.Endpoint.Ports, swarm.PortConfig{Protocol: "tcp", TargetPort: target, PublishedPort: published, PublishMode: swarm.PortConfigPublishModeIngress})
	}
}

func hostPort(target, published uint32) func(*swarm.Service) {
	return func(s *swarm.Service) {
		s.Endpoint.Ports = append(s.Endpoint.Ports, swarm.PortConfig{Protocol: "tcp", TargetPort: target, PublishedPort: published, PublishMode: swarm.PortConfigPublishModeHost})
	}
}

func udpPort(target, published uint32) func(*swarm.Service) {
	return func(s *swarm.Service) {
		s.Endpoint.Ports = append(s.Endpoint.Ports, swarm.PortConfig{Protocol: "udp", TargetPort: target, PublishedPort: published})
	}
}

func updating(s *swarm.Service) {
	s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
}

func task(id, serviceID, nodeID string, state swarm.TaskState, opts ...func(*swarm.Task)) swarm.Task {
	t := swarm.Task{ID: id, ServiceID: serviceID, NodeID: nodeID, DesiredState: swarm.TaskStateRunning}
	t.Status.State = state
	for _, o := range opts {
		o(&t)
	}
	return t
}

func taskHostPort(target, published uint32) func(*swarm.Task) {
	return func(t *swarm.Task) {
		t.Status.PortStatus.Ports = append(t.Status.PortStatus.Ports, swarm.PortConfig{Protocol: "tcp", TargetPort: target, PublishedPort: published, PublishMode: swarm.PortConfigPublishModeHost})
	}
}

func taskIP(networkID, networkName, cidr string) func(*swarm.Task) {
	return func(t *swarm.Task) {
		na := swarm.NetworkAttachment{Addresses: []netip.Prefix{netip.MustParsePrefix(cidr)}}
		na.Network.ID = networkID
		na.Network.Spec.Name = networkName
		t.NetworksAttachments = append(t.NetworksAttachments, na)
	}
}

func slot(n int) func(*swarm.Task) {
	return func(t *swarm.Task) { t.Slot = n }
}

func desired(s swarm.TaskState) func(*swarm.Task) {
	return func(t *swarm.Task) { t.DesiredState = s }
}
