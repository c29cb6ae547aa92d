package deploy

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
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
