package quorum_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/quorum"
)

// TestCheckE2E reads the real swarm of the test environment and checks
// Check against the engine's own account of its managers.
func TestCheckE2E(t *testing.T) {
	c := testenv.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	st, err := quorum.Check(ctx, c)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sw := info.Info.Swarm
	if len(st.Managers) != sw.Managers {
		t.Errorf("Check found %d managers, the engine reports %d", len(st.Managers), sw.Managers)
	}
	leaders, self := 0, false
	for _, m := range st.Managers {
		if m.Leader {
			leaders++
		}
		if m.ID == sw.NodeID {
			self = true
			if !m.Up() {
				t.Errorf("the engine's own node %s is %s", m.ID, m.State)
			}
		}
	}
	if leaders != 1 || !self {
		t.Errorf("managers %+v: want exactly one leader and the engine's node %s among them", st.Managers, sw.NodeID)
	}
	n := len(st.Managers)
	if !st.HasQuorum || st.Quorum != n/2+1 || st.Up+st.Down != n || st.FailuresLeft != st.Up-st.Quorum {
		t.Errorf("status = %+v", st)
	}
	// On the single-node swarm of the test environment nothing can fail.
	if n == 1 && (st.FailuresLeft != 0 || math.Abs(st.Loss(0.01).Float()-0.01) > 1e-12) {
		t.Errorf("single manager: %d failures left, loss %v; want 0 and 0.01", st.FailuresLeft, st.Loss(0.01))
	}
}
