package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/deckhand/deckhand/stack/deploy"
)

// recoverUnfinished runs, holding the stack's lock, before a deploy or a
// rollback writes: it says when an earlier run died mid-way (which run,
// when, what it had written) and, with restore, first brings the stack
// back to the revision before that run (d are the options it restores
// with). The run is then marked interrupted: it is reported once.
// found says whether there was one.
func recoverUnfinished(ctx context.Context, c *engineConn, stack string, restore bool, d deploy.Options, progress io.Writer) (found bool, err error) {
	u, err := deploy.FindUnfinished(ctx, c, stack)
	if err != nil || u == nil {
		return false, err
	}
	fmt.Fprintf(progress, "stack %s: %s\n", stack, u)
	switch {
	case restore && u.Previous > 0:
		fmt.Fprintf(progress, "atomic: restoring revision %d, the stack as that run found it, first\n", u.Previous)
		if _, err := deploy.RollbackTo(ctx, c, stack, u.Previous, d); err != nil {
			return true, fmt.Errorf("restore revision %d of stack %q after the unfinished run %d: %w; the stack may be as that run left it: run deckhand rollback --to %d, or deploy without --atomic to write the file over it",
				u.Previous, stack, u.Revision.Number, err, u.Previous)
		}
	case restore:
		fmt.Fprintf(progress, "atomic: no earlier revision to restore; writing the file over it\n")
	default:
		fmt.Fprintf(progress, "writing over it (deploy --atomic restores the revision before it first)\n")
	}
	return true, deploy.MarkInterrupted(ctx, c, u)
}

// unfinishedNote says, for plan, that an earlier run died mid-way; "" when
// none did or a run holds the stack's lock now.
func unfinishedNote(ctx context.Context, c *engineConn, stack string) string {
	if info, err := deploy.ReadLock(ctx, c, stack); err != nil || info != nil && time.Now().Before(info.Expires) && !processGone(*info) {
		return ""
	}
	u, err := deploy.FindUnfinished(ctx, c, stack)
	if err != nil || u == nil {
		return ""
	}
	return fmt.Sprintf("note: stack %s: %s; deploy --atomic restores the revision before it first, deploy writes the file over it", stack, u)
}
