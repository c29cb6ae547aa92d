package deploy

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// failedAtomicDeploy deploys v1 on a fake engine, then v2 with --atomic
// through the engine wrap makes of it; v2's new service cannot be created,
// so the run undoes what it did. It returns v2's result, output and error.
func failedAtomicDeploy(t *testing.T, wrap func(*fakeEngine) API) (*Result, string, error) {
	t.Helper()
	f := engineWithTwoImages()
	var out bytes.Buffer
	ctx := context.Background()
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	f.fail["ServiceCreate demo_extra"] = errors.New("no space")
	o := testOptions(&out)
	o.Atomic, o.Parallel = true, 1
	out.Reset()
	res, err := Deploy(ctx, wrap(f), v2(t, "hello"), o)
	return res, out.String(), err
}

// --atomic's undo waits for the services it restored and reports each
// one's end state.
func TestAtomicUndoWaitsForRestoredServices(t *testing.T) {
	res, out, err := failedAtomicDeploy(t, func(f *fakeEngine) API { return f })
	if err == nil {
		t.Fatal("the deploy did not fail")
	}
	if !strings.Contains(out, "atomic: service demo_api converged on its previous spec") {
		t.Errorf("output does not report demo_api's end state:\n%s", out)
	}
	if !slices.Contains(res.Undone, "service demo_api converged on its previous spec") {
		t.Errorf("undone = %v", res.Undone)
	}
}

// The undo's wait for restored services keeps --pending-timeout (virtual
// time): a restored service swarm cannot place either is reported after
// it, not after the default minute.
func TestAtomicUndoWaitKeepsThePendingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := deployV1(t)
		f.behaviour["demo_api"] = "unschedulable"
		var out bytes.Buffer
		o := testOptions(&out)
		o.Atomic, o.WaitInterval, o.Timeout, o.PendingTimeout = true, 0, 5*time.Minute, 10*time.Second
		start := time.Now()
		res, err := Deploy(context.Background(), f, v2Input(t), o)
		if !notConverged(err) {
			t.Fatalf("err = %v, want exit 3", err)
		}
		if !slices.ContainsFunc(res.Undone, func(s string) bool {
			return strings.HasPrefix(s, "service demo_api did not converge on its previous spec: unschedulable")
		}) {
			t.Errorf("undone = %v, want demo_api reported unschedulable after the restore", res.Undone)
		}
		if took := time.Since(start); took > 2*o.PendingTimeout+5*time.Second {
			t.Errorf("deploy and undo took %s, want about two pending timeouts (%s each)", took, o.PendingTimeout)
		}
	})
}

// restoreFails is the fake engine whose restores (updates back to the
// previous spec) fail, as when the engine went away mid-run.
type restoreFails struct{ *fakeEngine }

func (f restoreFails) ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	if o.RegistryAuthFrom == swarm.RegistryAuthFromPreviousSpec {
		return client.ServiceUpdateResult{}, errors.New("connection refused")
	}
	return f.fakeEngine.ServiceUpdate(ctx, id, o)
}

// A service whose restore failed is neither waited for nor listed as
// undone: the result says only what the undo did, and the error what it
// could not.
func TestAtomicUndoListsNoFailedRestore(t *testing.T) {
	res, out, err := failedAtomicDeploy(t, func(f *fakeEngine) API { return restoreFails{f} })
	if err == nil || !strings.Contains(err.Error(), `atomic undo incomplete: restore service "demo_api"`) {
		t.Fatalf("error = %v, want the restore of demo_api that failed", err)
	}
	if strings.Contains(err.Error(), "restored service(s) demo_api") {
		t.Errorf("the error calls demo_api restored: %v", err)
	}
	for _, u := range res.Undone {
		if strings.Contains(u, "demo_api") {
			t.Errorf("undone lists demo_api, whose restore failed: %q", res.Undone)
		}
	}
	if strings.Contains(out, "atomic: service demo_api") {
		t.Errorf("output reports an end state of demo_api, whose restore failed:\n%s", out)
	}
}
