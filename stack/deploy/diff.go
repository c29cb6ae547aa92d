package deploy

import (
	"context"

	"github.com/moby/moby/api/types/swarm"

	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/revision"
)

// StackDiff is what changed between two revisions of a stack, or between
// a revision and the live stack.
type StackDiff struct {
	Stack     string        `json:"stack"`
	From      int           `json:"from"`
	To        int           `json:"to"` // 0 is the live stack
	Changes   []plan.Change `json:"changes"`
	Unchanged int           `json:"unchanged"` // services the same on both sides
}

// Diff compares revision from with revision to, or with the live stack
// when to is 0, field by field, env values redacted as in plan.
func Diff(ctx context.Context, api StatusAPI, stack string, from, to int) (*StackDiff, error) {
	revs, err := Revisions(ctx, api, stack)
	if err != nil {
		return nil, err
	}
	side := func(n int) (map[string]swarm.ServiceSpec, error) {
		r, err := revision.Find(revs, stack, n)
		if err != nil {
			return nil, err
		}
		if r.Partial {
			return nil, partialError(stack, n)
		}
		return r.Services, nil
	}
	a, err := side(from)
	if err != nil {
		return nil, err
	}
	var b map[string]swarm.ServiceSpec
	if to > 0 {
		b, err = side(to)
	} else {
		_, b, err = liveSpecs(ctx, api, stack)
	}
	if err != nil {
		return nil, err
	}
	d := &StackDiff{Stack: stack, From: from, To: to, Changes: revision.Compare(a, b)}
	if d.Changes == nil {
		d.Changes = []plan.Change{}
	}
	changed := map[string]bool{}
	for _, c := range d.Changes {
		changed[c.Name] = true
	}
	for name := range b {
		if !changed[name] {
			d.Unchanged++
		}
	}
	return d, nil
}
