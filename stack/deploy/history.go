package deploy

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// Origin says what is known of a stack before the first revision a
// history lists.
type Origin string

// Origins of a history.
const (
	OriginCreated    Origin = "created"    // revision 1 created the stack
	OriginAdopted    Origin = "unknown"    // the stack ran before deckhand recorded it (docker stack deploy)
	OriginPruned     Origin = "pruned"     // older revisions were removed (--keep-revisions)
	OriginUnrecorded Origin = "unrecorded" // no revision is recorded, but the stack runs
	OriginNone       Origin = "none"       // no revision is recorded and the stack does not run
)

// HistoryAPI is the engine API history reads.
type HistoryAPI interface {
	record.ReadAPI
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
}

// History is the recorded revisions of a stack, oldest first.
type History struct {
	Stack     string             `json:"stack"`
	Before    Origin             `json:"before"` // what came before the first revision listed
	Revisions []revision.Summary `json:"revisions"`
}

// Revisions reads the recorded revisions of a stack, oldest first.
func Revisions(ctx context.Context, api record.ReadAPI, stack string) ([]*revision.Revision, error) {
	recs, err := record.List(ctx, api, stack, record.KindRevision)
	if err != nil {
		return nil, err
	}
	return revision.DecodeAll(recs)
}

// ReadHistory reads a stack's history. One list call reads every record;
// the services are listed only when no revision is recorded.
func ReadHistory(ctx context.Context, api HistoryAPI, stack string) (*History, error) {
	revs, err := Revisions(ctx, api, stack)
	if err != nil {
		return nil, err
	}
	h := &History{Stack: stack, Revisions: revision.Summarize(revs)}
	switch {
	case len(revs) > 0 && revs[0].Number > 1:
		h.Before = OriginPruned
	case len(revs) > 0 && revs[0].Adopted:
		h.Before = OriginAdopted
	case len(revs) > 0:
		h.Before = OriginCreated
	default:
		res, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+stack)})
		if err != nil {
			return nil, fmt.Errorf("list services of stack %q: %w", stack, err)
		}
		h.Before = OriginNone
		if len(res.Items) > 0 {
			h.Before = OriginUnrecorded
		}
	}
	return h, nil
}
