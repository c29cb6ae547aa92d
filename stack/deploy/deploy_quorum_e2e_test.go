package deploy

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testbed"
	"github.com/deckhand/deckhand/stack/plan"
)

// TestE2EQuorumLostNothingWritten crashes two of three managers of a real
// multi-node swarm: deploy refuses before any write and names the managers
// that cannot be reached.
func TestE2EQuorumLostNothingWritten(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Managers: 3, HeartbeatPeriod: 2 * time.Second})
	c := bed.Client(0)
	if err := bed.Kill(1, 2); err != nil {
		t.Fatal(err)
	}
	// The surviving manager notices the lost quorum after an election timeout.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := c.NodeList(context.Background(), client.NodeListOptions{})
		if err != nil && strings.Contains(err.Error(), "does not have a leader") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the swarm still has a leader two minutes after losing two of three managers (last error %v)", err)
		}
		time.Sleep(time.Second)
	}
	var out bytes.Buffer
	in := loadInput(t, "quorum", "simple.yml", nil)
	_, err := Deploy(context.Background(), c, in, Options{ResolveImage: plan.ResolveNever, Out: &out, Wait: true})
	if exitCode(err) != 1 {
		t.Fatalf("err = %v (exit %d), want exit 1", err, exitCode(err))
	}
	for _, want := range []string{"quorum", "unreachable managers", bed.Nodes[1].Addr, bed.Nodes[2].Addr, "nothing was written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("deploy reported writes without a leader:\n%s", out.String())
	}
}

// TestE2EWorkerIsRefused points deploy at a worker node of a real swarm.
func TestE2EWorkerIsRefused(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Managers: 1, Workers: 1})
	var out bytes.Buffer
	_, err := Deploy(context.Background(), bed.Client(1), loadInput(t, "worker", "simple.yml", nil), Options{ResolveImage: plan.ResolveNever, Out: &out, Wait: true})
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "worker, not a manager") {
		t.Fatalf("err = %v (exit %d), want exit 1 saying the engine is a worker", err, exitCode(err))
	}
	if out.Len() != 0 {
		t.Errorf("deploy reported writes on a worker:\n%s", out.String())
	}
}
