package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

// Unfinished is a run that died mid-way (killed, its machine or connection
// lost): its revision is still marked in progress while no run holds the
// stack's lock.
type Unfinished struct {
	Revision *revision.Revision // the run's record: who, when, what it was to write
	// Previous is the revision before it that the stack ran, which
	// restores the stack as the run found it; 0 when there is none.
	Previous int
	Written  []string // services whose live spec is already the run's
	Pending  []string // services the run was to change that it had not (or not fully) written
	rec      record.Record
}

// String says which run, when, and what it had done, in one line.
func (u *Unfinished) String() string {
	r := u.Revision
	s := fmt.Sprintf("revision %d (%s by %s at %s) did not finish: it had written %d of the %d services it was to change",
		r.Number, r.Action, r.Who, r.Time.UTC().Format(time.RFC3339), len(u.Written), len(u.Written)+len(u.Pending))
	if len(u.Pending) > 0 {
		s += "; not written: " + strings.Join(u.Pending, ", ")
	}
	return s
}

// FindUnfinished returns the stack's newest run left in progress, or nil.
// Call it holding the stack's lock (or having seen that none is held):
// otherwise a live run looks unfinished.
func FindUnfinished(ctx context.Context, api StatusAPI, stack string) (*Unfinished, error) {
	recs, err := record.List(ctx, api, stack, record.KindRevision)
	if err != nil {
		return nil, err
	}
	at := -1
	for j := len(recs) - 1; j >= 0; j-- {
		if revision.Outcome(recs[j].State) == revision.OutcomeInProgress {
			at = j
			break
		}
	}
	if at < 0 {
		return nil, nil
	}
	revs, err := revision.DecodeAll(recs[:at+1])
	if err != nil {
		return nil, err
	}
	u := &Unfinished{Revision: revs[at], rec: recs[at]}
	before := map[string]swarm.ServiceSpec{}
	for j := at - 1; j >= 0; j-- {
		if o := revs[j].Outcome; (o == revision.OutcomeConverged || o == revision.OutcomeApplied) && !revs[j].Partial {
			u.Previous, before = revs[j].Number, revs[j].Services
			break
		}
	}
	live, err := LiveSpecs(ctx, api, stack)
	if err != nil {
		return nil, err
	}
	u.Written, u.Pending = runProgress(before, u.Revision.Services, live)
	return u, nil
}

// runProgress splits the services a run was to change (from before to after)
// into those the live specs show written and those they do not. It is pure.
func runProgress(before, after, live map[string]swarm.ServiceSpec) (written, pending []string) {
	differs := map[string]bool{}
	for _, c := range revision.Compare(live, after) {
		differs[c.Name] = true
	}
	for _, c := range revision.Compare(before, after) {
		name := c.Name
		if c.Action == plan.ActionRemove {
			name += " (removal)"
		}
		if differs[c.Name] {
			pending = append(pending, name)
		} else {
			written = append(written, name)
		}
	}
	return written, pending
}

// MarkInterrupted records that the unfinished run is over: later runs no
// longer report it.
func MarkInterrupted(ctx context.Context, api record.API, u *Unfinished) error {
	return record.NewStore(api).SetState(ctx, u.rec, string(revision.OutcomeInterrupted))
}
