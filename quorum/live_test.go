package quorum

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// fakeNodes is a NodeLister that answers with fixed nodes or an error and
// records the options of every call.
type fakeNodes struct {
	nodes []swarm.Node
	err   error
	calls []client.NodeListOptions
}

func (f *fakeNodes) NodeList(_ context.Context, o client.NodeListOptions) (client.NodeListResult, error) {
	f.calls = append(f.calls, o)
	if f.err != nil {
		return client.NodeListResult{}, f.err
	}
	return client.NodeListResult{Items: f.nodes}, nil
}

// node builds a swarm node for tests; managers are reachable unless an
// option says otherwise.
func node(hostname, id string, opts ...func(*swarm.Node)) swarm.Node {
	n := swarm.Node{ID: id, Description: swarm.NodeDescription{Hostname: hostname}}
	n.Spec.Role = swarm.NodeRoleManager
	n.ManagerStatus = &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable, Addr: "10.99.0.1" + id[len(id)-1:] + ":2377"}
	for _, o := range opts {
		o(&n)
	}
	return n
}

func leader(n *swarm.Node) { n.ManagerStatus.Leader = true }

func unreachable(n *swarm.Node) { n.ManagerStatus.Reachability = swarm.ReachabilityUnreachable }

func unknown(n *swarm.Node) { n.ManagerStatus.Reachability = swarm.ReachabilityUnknown }

func worker(n *swarm.Node) { n.Spec.Role, n.ManagerStatus = swarm.NodeRoleWorker, nil }

func zone(z string) func(*swarm.Node) {
	return func(n *swarm.Node) { n.Spec.Labels = map[string]string{"zone": z} }
}

const noLeaderAnswer = "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."

func TestCheckHealthy(t *testing.T) {
	f := &fakeNodes{nodes: []swarm.Node{
		node("node3", "id3"), node("node1", "id1", leader), node("worker1", "id9", worker), node("node2", "id2"),
	}}
	st, err := Check(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 || !f.calls[0].Filters["role"]["manager"] {
		t.Errorf("NodeList calls = %v, want one filtered on role=manager", f.calls)
	}
	var hosts []string
	var states []State
	for _, m := range st.Managers {
		hosts, states = append(hosts, m.Hostname), append(states, m.State)
	}
	if !slices.Equal(hosts, []string{"node1", "node2", "node3"}) || !slices.Equal(states, []State{StateLeader, StateReachable, StateReachable}) {
		t.Errorf("managers = %v %v, want node1..3 sorted, leader first, worker left out", hosts, states)
	}
	// 3 managers: quorum 2, K=1, all up: 1 failure left.
	if !st.HasQuorum || st.Quorum != 2 || st.Tolerance != 1 || st.Up != 3 || st.Down != 0 || st.FailuresLeft != 1 {
		t.Errorf("status = %+v", st)
	}
	// With all up, losing quorum from here is the plain exact value.
	if got, want := st.Loss(0.01), Exact(3, 0.01); !sameProb(got.Log(), want.Log()) {
		t.Errorf("Loss(0.01) = %v, want %v", got, want)
	}
}

func TestCheckOneDown(t *testing.T) {
	f := &fakeNodes{nodes: []swarm.Node{
		node("node1", "id1", leader), node("node2", "id2", unreachable), node("node3", "id3"),
	}}
	st, err := Check(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if !st.HasQuorum || st.Up != 2 || st.Down != 1 || st.FailuresLeft != 0 {
		t.Errorf("status = %+v, want 2 up, 1 down, 0 failures left", st)
	}
	// 2 up, quorum 2: one more failure of the two loses it:
	// 1 − (1−p)² = 1 − 0.9801 = 0.0199.
	if got := st.Loss(0.01).Float(); math.Abs(got-0.0199) > 1e-12 {
		t.Errorf("Loss(0.01) = %v, want 0.0199", got)
	}
}

func TestCheckUnknownCountsAsDown(t *testing.T) {
	f := &fakeNodes{nodes: []swarm.Node{
		node("a", "id1", leader), node("b", "id2", unknown), node("c", "id3"), node("d", "id4"), node("e", "id5", unreachable),
	}}
	st, err := Check(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	// 5 managers, quorum 3, 3 up: 0 failures left.
	if st.Up != 3 || st.Down != 2 || st.FailuresLeft != 0 || st.Managers[1].State != StateUnknown {
		t.Errorf("status = %+v", st)
	}
}

func TestCheckLostByCount(t *testing.T) {
	// The engine can still answer for a few seconds after too many
	// managers have gone: 2 of 5 up is below the quorum of 3.
	f := &fakeNodes{nodes: []swarm.Node{
		node("a", "id1", leader), node("b", "id2", unreachable), node("c", "id3", unreachable), node("d", "id4", unreachable), node("e", "id5"),
	}}
	st, err := Check(context.Background(), f)
	if !errors.Is(err, ErrNoQuorum) || st.HasQuorum || st.Down != 3 {
		t.Fatalf("Check = %+v, %v; want lost quorum", st, err)
	}
	if !strings.Contains(err.Error(), "3 of 5 managers are down") {
		t.Errorf("error %q does not say how many are down", err)
	}
	if got := st.Loss(0.01).Float(); got != 1 {
		t.Errorf("Loss after losing quorum = %v, want 1", got)
	}
}

func TestCheckNoLeader(t *testing.T) {
	f := &fakeNodes{err: errors.New(noLeaderAnswer)}
	st, err := Check(context.Background(), f)
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("Check error = %v, want ErrNoQuorum", err)
	}
	if st.HasQuorum || !strings.Contains(err.Error(), "does not have a leader") || !strings.Contains(err.Error(), "--force-new-cluster") {
		t.Errorf("Check = %+v, %v: want the engine's words and the fix", st, err)
	}
}

func TestCheckOtherErrors(t *testing.T) {
	f := &fakeNodes{err: errors.New(`Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)}
	_, err := Check(context.Background(), f)
	if err == nil || errors.Is(err, ErrNoQuorum) || !strings.Contains(err.Error(), "list the swarm's managers") {
		t.Errorf("Check error = %v, want a wrapped listing error, not ErrNoQuorum", err)
	}
	if _, err := Check(context.Background(), &fakeNodes{}); err == nil {
		t.Error("Check with no managers should fail")
	}
}

func TestStatusZones(t *testing.T) {
	f := &fakeNodes{nodes: []swarm.Node{
		node("a1", "id1", leader, zone("a")), node("a2", "id2", zone("a")),
		node("b1", "id3", zone("b")), node("b2", "id4", zone("b"), unreachable),
		node("c1", "id5", zone("c")),
	}}
	st, err := Check(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	spread, names, unlabelled := st.Zones("zone")
	if spread.String() != "2-1-1" || !slices.Equal(names, []string{"a", "b", "c"}) || len(unlabelled) != 0 {
		t.Errorf("Zones = %s %v %v, want 2-1-1 [a b c] []", spread, names, unlabelled)
	}
	// Without zone failures the zones do not matter.
	if got, want := st.ZoneLoss(spread, 0.01, 0), st.Loss(0.01); !sameProb(got.Log(), want.Log()) {
		t.Errorf("ZoneLoss(q=0) = %v, want Loss %v", got, want)
	}
	// p=0: 4 up, quorum 3, 1 failure left: losing zone a (2 up) loses it,
	// b or c alone (1 up) does not, any two zones do: q + (1−q)·q² with
	// q=0.1 is 0.1 + 0.9·0.01 = 0.109.
	if got := st.ZoneLoss(spread, 0, 0.1).Float(); math.Abs(got-0.109) > 1e-12 {
		t.Errorf("ZoneLoss(p=0, q=0.1) = %v, want 0.109", got)
	}
	if _, _, unl := st.Zones("rack"); len(unl) != 5 {
		t.Errorf("label rack: %d unlabelled, want 5", len(unl))
	}
}
