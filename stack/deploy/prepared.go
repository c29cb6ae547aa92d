package deploy

import (
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// Prepared is a checked plan plus what it was made from.
type Prepared struct {
	Plan    *plan.Plan
	Desired *swarmspec.Desired
	Images  map[string]plan.ResolvedImage
	// Managers is how many managers the swarm has (0 when a custom
	// QuorumCheck ran instead of the node list).
	Managers int
	// What the plan was made from, for the revision a deploy records:
	// the loaded stack (nil for a rollback), the live stack, and the
	// names of the networks by ID.
	Stack        *compose.Stack
	Live         *plan.Live
	NetworkNames map[string]string
	// Warnings are what preflight saw that will keep tasks from running
	// (no node meets a service's constraints, too few nodes for its
	// host-mode ports); they do not stop the deploy.
	Warnings []string
}
