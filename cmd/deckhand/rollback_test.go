package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/plan"
)

// TestRollbackToOptions: rollback --to waits with the same --timeout and
// --pending-timeout as rollback without it (--pending-timeout was dropped,
// so an unschedulable restore waited the default minute).
func TestRollbackToOptions(t *testing.T) {
	for _, tc := range []struct {
		args             []string
		timeout, pending time.Duration
		resolve          plan.ResolveMode
	}{
		{[]string{"--to", "2"}, 5 * time.Minute, deploy.DefaultPendingTimeout, plan.ResolveAlways},
		{[]string{"--to", "2", "--timeout", "40s", "--pending-timeout", "3s", "--resolve-image", "never", "--atomic"}, 40 * time.Second, 3 * time.Second, plan.ResolveNever},
	} {
		var o rollbackOptions
		fs := pflag.NewFlagSet("rollback", pflag.ContinueOnError)
		o.addFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		d, err := o.restoreOptions()
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if d.Timeout != tc.timeout || d.PendingTimeout != tc.pending || d.ResolveImage != tc.resolve {
			t.Errorf("%v: timeout %s, pending timeout %s, resolve %q; want %s, %s, %q", tc.args, d.Timeout, d.PendingTimeout, d.ResolveImage, tc.timeout, tc.pending, tc.resolve)
		}
		if d.Revision == nil || d.Revision.Keep != deploy.DefaultKeepRevisions || d.Atomic != fs.Changed("atomic") {
			t.Errorf("%v: revision %+v, atomic %t", tc.args, d.Revision, d.Atomic)
		}
	}
	if _, err := (rollbackOptions{resolve: "sometimes", revs: revisionFlags{keep: 1}}).restoreOptions(); err == nil {
		t.Error("--resolve-image sometimes: no error")
	}
}
