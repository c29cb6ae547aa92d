package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/stack/deploy"
)

func newUnlockCommand(t *target) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock STACK",
		Short: "Break a stack's deploy lock on purpose",
		Long: `Deploy and rollback hold a lock on their stack, in the swarm, so that one
run at a time writes it; a second run waits for it (--lock-timeout). A run
that dies leaves its lock, which expires by itself within a minute. Unlock
breaks the lock at once and says whose it was: use it only when that run is
gone, or two runs will write over each other.`,
		Example: `  deckhand unlock my-cool-app`,
		Args:    cobra.ExactArgs(1),
		PreRun:  shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUnlock(cmd.Context(), t, args[0], cmd.OutOrStdout())
		},
	}
}

// runUnlock removes the stack's lock and names its holder.
func runUnlock(ctx context.Context, t *target, stack string, out io.Writer) error {
	c, err := connectStack(ctx, t, "text", stack)
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := deploy.Unlock(ctx, c, stack)
	if err != nil {
		return err
	}
	if info == nil {
		fmt.Fprintf(out, "stack %s is not locked\n", stack)
		return nil
	}
	fmt.Fprintf(out, "broke the lock of stack %s held by %s\n", stack, info)
	return nil
}
