package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

// DefaultKeepRevisions is how many revisions of a stack are kept when
// RevisionOptions.Keep is not set.
const DefaultKeepRevisions = 10

func (r *RevisionOptions) keep() int {
	if r.Keep < 1 {
		return DefaultKeepRevisions
	}
	return r.Keep
}

// keptVersions are the config and secret versions that the revisions kept
// after this run use.
type keptVersions struct{ configs, secrets map[string]bool }

// readKept reads them when the run prunes and records: the newest Keep-1
// revisions stay besides the one this run records.
func readKept(ctx context.Context, api record.ReadAPI, namespace string, o Options) (keptVersions, error) {
	if !o.Prune || o.Revision == nil {
		return keptVersions{}, nil
	}
	recs, err := record.List(ctx, api, namespace, record.KindRevision)
	if err != nil {
		return keptVersions{}, err
	}
	recs = recs[max(0, len(recs)-(o.Revision.keep()-1)):]
	revs, err := revision.DecodeAll(recs)
	if err != nil {
		return keptVersions{}, fmt.Errorf("%w; --prune needs every kept revision to know which versions they use", err)
	}
	c, s := revision.InUse(revs)
	return keptVersions{configs: c, secrets: s}, nil
}

// revisionRun is the record of one run: written, in progress, before the
// run's first write, and given the run's outcome when it ends.
type revisionRun struct {
	store *record.Store
	rec   record.Record
	keep  int
	log   *slog.Logger
}

// beginRevision records the revision the run is about to make (nil when
// the run records nothing). A failure here stops the run before any write.
func beginRevision(ctx context.Context, api API, namespace string, prep *Prepared, o Options) (*revisionRun, error) {
	if o.Revision == nil {
		return nil, nil
	}
	recs, err := record.List(ctx, api, namespace, record.KindRevision)
	if err != nil {
		return nil, fmt.Errorf("%w; nothing was written", err)
	}
	now := time.Now
	if o.Revision.Now != nil {
		now = o.Revision.Now
	}
	in := revision.Input{Stack: namespace, Time: now(), Who: o.Revision.Who, Action: revision.ActionDeploy, From: o.Revision.From,
		First: len(recs) == 0, Plan: prep.Plan, Live: prep.Live, NetworkNames: prep.NetworkNames, Networks: prep.Desired.Networks}
	if rs := o.restore; rs != nil {
		in.Action, in.From, in.FilesDigest = revision.ActionRollback, fmt.Sprint(rs.rev.Number), rs.rev.FilesDigest
	}
	if prep.Stack != nil {
		in.FilesDigest = prep.Stack.FilesDigest
	}
	rev := revision.New(in)
	switch {
	case o.restore != nil:
		rev.Rendered = o.restore.rev.Rendered
	case prep.Stack != nil:
		doc, err := revision.RenderPinned(prep.Stack, rev.Images())
		if err != nil {
			return nil, fmt.Errorf("record stack %q: %w; nothing was written", namespace, err)
		}
		rev.Rendered = string(doc)
	}
	data, err := revision.Encode(rev)
	if err != nil {
		return nil, fmt.Errorf("record stack %q: %w; nothing was written", namespace, err)
	}
	store := record.NewStore(api)
	rec, err := store.Append(ctx, namespace, record.KindRevision, string(revision.OutcomeInProgress), data, recs)
	if err != nil {
		return nil, fmt.Errorf("%w; nothing was written", err)
	}
	log := o.Logger.With("component", "deploy", "stack", namespace, "revision", rec.Seq)
	if rev.Partial {
		log.Warn("the revision's specs do not fit in a record: it cannot be rolled back to", "limit", record.MaxData)
	}
	return &revisionRun{store: store, rec: rec, keep: o.Revision.keep(), log: log}, nil
}

// finish gives the record the run's outcome and removes records beyond
// the kept ones. It runs after Ctrl-C too; its failures are warnings.
func (r *revisionRun) finish(ctx context.Context, res *Result) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	res.Revision = r.rec.Seq
	outcome := runOutcome(res)
	if err := r.store.SetState(ctx, r.rec, string(outcome)); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("revision %d stays marked %q: %v", r.rec.Seq, revision.OutcomeInProgress, err))
	}
	removed, err := r.store.Trim(ctx, r.rec.Stack, record.KindRevision, r.keep)
	if err != nil {
		res.Warnings = append(res.Warnings, err.Error())
	}
	r.log.Debug("revision recorded", "outcome", outcome, "removed", len(removed))
	slices.Sort(res.Warnings)
}

// runOutcome is the outcome a revision records for a run's result.
func runOutcome(res *Result) revision.Outcome {
	switch {
	case len(res.Undone) > 0:
		return revision.OutcomeRolledBack
	case res.Outcome == OutcomeConverged:
		return revision.OutcomeConverged
	case res.Outcome == OutcomeApplied:
		return revision.OutcomeApplied
	case res.Outcome == OutcomeNotConverged:
		return revision.OutcomeNotConverged
	}
	return revision.OutcomeFailed
}
