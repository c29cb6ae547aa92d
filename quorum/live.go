package quorum

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// NodeLister is the one engine call Check makes; *client.Client has it.
type NodeLister interface {
	NodeList(ctx context.Context, options client.NodeListOptions) (client.NodeListResult, error)
}

// ErrNoQuorum is returned (wrapped) by Check when the swarm has lost quorum:
// nothing in it can be created, changed or removed until managers return.
var ErrNoQuorum = errors.New("the swarm has lost quorum")

// noLeader is what the engine answers to control-plane calls when the
// managers cannot elect a leader.
const noLeader = "does not have a leader"

// State is a manager's standing in the Raft cluster.
type State string

// The states of a manager.
const (
	StateLeader      State = "leader"
	StateReachable   State = "reachable"
	StateUnreachable State = "unreachable"
	StateUnknown     State = "unknown" // no manager status, or the engine does not know
)

// Manager is one swarm manager as Check sees it.
type Manager struct {
	ID       string            `json:"id"`
	Hostname string            `json:"hostname"`
	Addr     string            `json:"addr"`
	Leader   bool              `json:"leader"`
	State    State             `json:"state"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Up reports whether the manager counts towards the quorum: it is the
// leader or reachable.
func (m Manager) Up() bool { return m.State == StateLeader || m.State == StateReachable }

// Status is the quorum of the swarm a client points at.
type Status struct {
	Managers     []Manager `json:"managers"` // sorted by hostname, then ID
	Quorum       int       `json:"quorum"`
	Tolerance    int       `json:"tolerance"`
	Up           int       `json:"up"`   // leader and reachable managers
	Down         int       `json:"down"` // unreachable and unknown managers
	HasQuorum    bool      `json:"has_quorum"`
	FailuresLeft int       `json:"failures_left"` // more managers that can fail before quorum is lost
	Message      string    `json:"message,omitempty"`
}

// Check reads the managers of the swarm c points at. When the swarm has
// lost quorum (the engine has no leader, or more than K managers are down)
// it returns a Status with HasQuorum false and an error wrapping
// ErrNoQuorum; other errors mean the swarm could not be read.
func Check(ctx context.Context, c NodeLister) (Status, error) {
	log := slog.With("component", "quorum")
	res, err := c.NodeList(ctx, client.NodeListOptions{Filters: make(client.Filters).Add("role", "manager")})
	if err != nil {
		if strings.Contains(err.Error(), noLeader) {
			log.Warn("swarm has no leader", "error", err)
			st := Status{Message: err.Error()}
			return st, fmt.Errorf("%w: the engine answers %q; bring the stopped managers back, or run `docker swarm init --force-new-cluster` on a surviving manager", ErrNoQuorum, err.Error())
		}
		return Status{}, fmt.Errorf("list the swarm's managers: %w; point DOCKER_HOST at a manager of a swarm (`docker swarm init` makes one)", err)
	}
	st := statusOf(res.Items)
	log.Debug("managers read", "managers", len(st.Managers), "up", st.Up, "down", st.Down)
	if len(st.Managers) == 0 {
		return st, fmt.Errorf("the engine lists no managers: point DOCKER_HOST at a manager of a swarm")
	}
	if !st.HasQuorum {
		return st, fmt.Errorf("%w: %d of %d managers are down and a quorum needs %d up; bring managers back, or run `docker swarm init --force-new-cluster` on a surviving manager", ErrNoQuorum, st.Down, len(st.Managers), st.Quorum)
	}
	return st, nil
}

// statusOf builds a Status from the engine's nodes, keeping the managers.
func statusOf(nodes []swarm.Node) Status {
	var st Status
	for _, n := range nodes {
		if n.Spec.Role != swarm.NodeRoleManager && n.ManagerStatus == nil {
			continue
		}
		m := Manager{ID: n.ID, Hostname: n.Description.Hostname, State: StateUnknown}
		if len(n.Spec.Labels) > 0 {
			m.Labels = maps.Clone(n.Spec.Labels)
		}
		if ms := n.ManagerStatus; ms != nil {
			m.Addr = ms.Addr
			m.Leader = ms.Leader
			switch {
			case ms.Leader:
				m.State = StateLeader
			case ms.Reachability == swarm.ReachabilityReachable:
				m.State = StateReachable
			case ms.Reachability == swarm.ReachabilityUnreachable:
				m.State = StateUnreachable
			}
		}
		st.Managers = append(st.Managers, m)
	}
	slices.SortFunc(st.Managers, func(a, b Manager) int {
		return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.ID, b.ID))
	})
	n := len(st.Managers)
	st.Quorum, st.Tolerance = Size(n), Tolerance(n)
	for _, m := range st.Managers {
		if m.Up() {
			st.Up++
		} else {
			st.Down++
		}
	}
	st.HasQuorum = n > 0 && st.Up >= st.Quorum
	if st.HasQuorum {
		st.FailuresLeft = st.Up - st.Quorum
	}
	return st
}

// Zones groups the managers that are up by the value of their node label
// (for example "zone"): the up-managers spread, zone names in the same
// order, and the hostnames of managers without the label, sorted.
func (s Status) Zones(label string) (spread Spread, names []string, unlabelled []string) {
	count := map[string]int{}
	for _, m := range s.Managers {
		z, ok := m.Labels[label]
		if label == "" || !ok || z == "" {
			unlabelled = append(unlabelled, cmp.Or(m.Hostname, m.ID))
			continue
		}
		if m.Up() {
			count[z]++
		} else if _, seen := count[z]; !seen {
			count[z] = 0
		}
	}
	names = slices.Sorted(maps.Keys(count))
	for _, z := range names {
		spread = append(spread, count[z])
	}
	return spread, names, unlabelled
}

// Loss is the probability that the swarm loses quorum from here: that at
// least FailuresLeft+1 of the managers now up fail, each with probability p.
// It is 1 when quorum is already lost.
func (s Status) Loss(p float64) Prob {
	if !s.HasQuorum {
		return Prob{}
	}
	return Prob{ln: logBinomTail(s.Up, s.FailuresLeft+1, p)}
}

// ZoneLoss is Loss when the managers now up are spread over zones as given
// (see Zones), each zone down as a whole with probability q on top of node
// failures with probability p. Zones with no manager up count as empty.
func (s Status) ZoneLoss(spread Spread, p, q float64) Prob {
	if !s.HasQuorum {
		return Prob{}
	}
	live := make(Spread, 0, len(spread))
	for _, c := range spread {
		if c > 0 {
			live = append(live, c)
		}
	}
	if live.Managers() != s.Up {
		return Prob{ln: math.NaN()}
	}
	return Prob{ln: logZoneTail(live, s.FailuresLeft+1, p, q)}
}
