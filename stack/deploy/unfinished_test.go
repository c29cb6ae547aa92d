package deploy

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

// killedMidway deploys simple.yml (revision 1), then v2 with a write that
// fails, and puts revision 2 back in progress: what a run killed after its
// first writes leaves.
func killedMidway(t *testing.T) *fakeEngine {
	t.Helper()
	f := engineWithTwoImages()
	var out bytes.Buffer
	ctx := context.Background()
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	f.fail["ServiceCreate demo_extra"] = errors.New("killed")
	if _, err := Deploy(ctx, f, v2(t, "hello"), recording(&out, 0)); err == nil {
		t.Fatal("the v2 deploy did not fail")
	}
	delete(f.fail, "ServiceCreate demo_extra")
	recs, err := record.List(ctx, f, "demo", record.KindRevision)
	if err != nil || len(recs) != 2 {
		t.Fatalf("records %v, %v", recs, err)
	}
	if err := record.NewStore(f).SetState(ctx, recs[1], string(revision.OutcomeInProgress)); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFindUnfinishedSaysWhichRunWhenAndWhatItWrote(t *testing.T) {
	f := killedMidway(t)
	ctx := context.Background()
	u, err := FindUnfinished(ctx, f, "demo")
	if err != nil || u == nil {
		t.Fatalf("unfinished = %v, %v; want revision 2", u, err)
	}
	if u.Revision.Number != 2 || u.Previous != 1 {
		t.Errorf("revision %d, previous %d; want 2 and 1", u.Revision.Number, u.Previous)
	}
	if !slices.Contains(u.Written, "demo_api") || !slices.Equal(u.Pending, []string{"demo_extra"}) {
		t.Errorf("written %v, pending %v; want demo_api written, demo_extra pending", u.Written, u.Pending)
	}
	for _, want := range []string{"revision 2 (deploy by alice@laptop at 2026-11-30T05:00:00Z) did not finish", "not written: demo_extra"} {
		if !strings.Contains(u.String(), want) {
			t.Errorf("%q does not say %q", u, want)
		}
	}
	if err := MarkInterrupted(ctx, f, u); err != nil {
		t.Fatal(err)
	}
	if u, err := FindUnfinished(ctx, f, "demo"); err != nil || u != nil {
		t.Errorf("after MarkInterrupted: %v, %v; want nothing to report", u, err)
	}
	if h := history(t, f); h.Revisions[1].Outcome != revision.OutcomeInterrupted {
		t.Errorf("history says %q, want interrupted", h.Revisions[1].Outcome)
	}
}

func TestFindUnfinishedNoneAfterFinishedRuns(t *testing.T) {
	f := engineWithTwoImages()
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	if u, err := FindUnfinished(context.Background(), f, "demo"); err != nil || u != nil {
		t.Errorf("unfinished = %v, %v; want none", u, err)
	}
}

// Restoring the revision before an unfinished run brings the stack back
// as that run found it.
func TestRestoreBeforeUnfinishedRun(t *testing.T) {
	f := killedMidway(t)
	ctx := context.Background()
	u, err := FindUnfinished(ctx, f, "demo")
	if err != nil || u == nil {
		t.Fatal(u, err)
	}
	var out bytes.Buffer
	if _, err := RollbackTo(ctx, f, "demo", u.Previous, recording(&out, 0)); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	revs, err := Revisions(ctx, f, "demo")
	if err != nil {
		t.Fatal(err)
	}
	live, err := LiveSpecs(ctx, f, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if diff := revision.Compare(revs[0].Services, live); len(diff) > 0 {
		t.Errorf("after the restore the stack differs from revision 1: %+v", diff)
	}
}
