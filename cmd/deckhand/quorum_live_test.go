package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/internal/golden"
	"github.com/deckhand/deckhand/quorum"
)

// fakeManagers is a quorum.NodeLister that answers with fixed nodes or an error.
type fakeManagers struct {
	nodes []swarm.Node
	err   error
}

func (f *fakeManagers) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: f.nodes}, f.err
}

// manager builds a reachable manager node in a zone (none for ""); options
// make it the leader or unreachable.
func manager(hostname, id, zone string, opts ...func(*swarm.ManagerStatus)) swarm.Node {
	n := swarm.Node{ID: id, Description: swarm.NodeDescription{Hostname: hostname}}
	n.Spec.Role = swarm.NodeRoleManager
	if zone != "" {
		n.Spec.Labels = map[string]string{"zone": zone}
	}
	n.ManagerStatus = &swarm.ManagerStatus{Reachability: swarm.ReachabilityReachable, Addr: "10.99.0.1" + id[len(id)-1:] + ":2377"}
	for _, o := range opts {
		o(n.ManagerStatus)
	}
	return n
}

func leading(m *swarm.ManagerStatus) { m.Leader = true }

func unreachable(m *swarm.ManagerStatus) { m.Reachability = swarm.ReachabilityUnreachable }

// testTarget is the engine the unit tests' JSON results name.
var testTarget = engineJSON{Context: "prod", Host: "ssh://deploy@manager1"}

const noLeaderAnswer = "Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."

// TestQuorumLiveGolden writes live mode's table and JSON for fake swarms
// and compares them with testdata/quorum-live/*.golden.
func TestQuorumLiveGolden(t *testing.T) {
	threeZones := []swarm.Node{
		manager("node1", "n1aaaaaaaaaaaaaaaaaaaaaa1", "a", leading),
		manager("node2", "n2bbbbbbbbbbbbbbbbbbbbbb2", "b"),
		manager("node3", "n3cccccccccccccccccccccc3", "c"),
	}
	oneDown := []swarm.Node{
		manager("node1", "n1aaaaaaaaaaaaaaaaaaaaaa1", "a", leading),
		manager("node2", "n2bbbbbbbbbbbbbbbbbbbbbb2", "a", unreachable),
		manager("node3", "n3cccccccccccccccccccccc3", "b"),
	}
	single := []swarm.Node{manager("vm", "qmcvyvhqqtgioajcgm1p9nda1", "", leading)}
	tests := []struct {
		name  string
		nodes []swarm.Node
		err   error
		opts  quorumOptions
		lost  bool
	}{
		{"live-3-zones", threeZones, nil, quorumOptions{ps: floatList{0.01}, pSet: true, zoneP: 0.001, zonePSet: true, zoneLabel: "zone", format: "table"}, false},
		{"live-3-zones-json", threeZones, nil, quorumOptions{ps: floatList{0.01}, pSet: true, zoneP: 0.001, zonePSet: true, zoneLabel: "zone", format: "json"}, false},
		{"live-one-down", oneDown, nil, quorumOptions{mtbf: "2000h", mttr: "4h", zoneLabel: "zone", format: "table"}, false},
		{"live-single-no-p", single, nil, quorumOptions{zoneLabel: "zone", format: "table"}, false},
		{"live-no-leader", nil, errors.New(noLeaderAnswer), quorumOptions{ps: floatList{0.01}, pSet: true, zoneLabel: "zone", format: "table"}, true},
		{"live-no-leader-json", nil, errors.New(noLeaderAnswer), quorumOptions{ps: floatList{0.01}, pSet: true, zoneLabel: "zone", format: "json"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, pGiven, err := tt.opts.nodeDownP()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = runQuorumLive(context.Background(), &out, tt.opts, p, pGiven, &fakeManagers{nodes: tt.nodes, err: tt.err}, testTarget)
			if tt.lost != errors.Is(err, quorum.ErrNoQuorum) || (!tt.lost && err != nil) {
				t.Fatalf("error = %v, want lost quorum: %v", err, tt.lost)
			}
			if tt.lost && exit.Code(err) != exit.Failure {
				t.Errorf("lost quorum: exit code %d, want %d", exit.Code(err), exit.Failure)
			}
			if tt.opts.format == "json" && !json.Valid(out.Bytes()) {
				t.Errorf("output is not JSON:\n%s", out.Bytes())
			}
			golden.Assert(t, out.Bytes(), filepath.Join("testdata", "quorum-live", tt.name+".golden"))
		})
	}
}

// TestQuorumLiveListError: an engine that cannot list the managers is an
// error, with nothing written.
func TestQuorumLiveListError(t *testing.T) {
	var out bytes.Buffer
	err := runQuorumLive(context.Background(), &out, quorumOptions{format: "table"}, 0, false, &fakeManagers{err: errors.New("connection refused")}, testTarget)
	if err == nil || errors.Is(err, quorum.ErrNoQuorum) || out.Len() != 0 {
		t.Errorf("error = %v, output %q; want a listing error and no output", err, out.String())
	}
}
