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
)

// --atomic's undo waits for the services it restored and reports each
// one's end state.
func TestAtomicUndoWaitsForRestoredServices(t *testing.T) {
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
	res, err := Deploy(ctx, f, v2(t, "hello"), o)
	if err == nil {
		t.Fatal("the deploy did not fail")
	}
	if !strings.Contains(out.String(), "atomic: service demo_api converged on its previous spec") {
		t.Errorf("output does not report demo_api's end state:\n%s", out.String())
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
