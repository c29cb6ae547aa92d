package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/plan"
)

type diffOptions struct {
	target           *target
	format           string
	detailedExitCode bool
}

func newDiffCommand(t *target) *cobra.Command {
	o := diffOptions{target: t}
	cmd := &cobra.Command{
		Use:   "diff [OPTIONS] STACK REV [REV]",
		Short: "Compare two revisions of a stack, or one with the live stack",
		Long: `Diff lists, field by field, what differs between two recorded revisions of the
stack (from the first to the second), or between one revision and the stack as
it runs now: drift, such as a docker service update made by hand. Environment
values are redacted as in plan; images, config and secret versions, replicas,
ports, labels and every other field of the service specs are compared.

With --detailed-exitcode the exit code is 0 when both sides are the same, 2
when they differ, and 1 on error.`,
		Example: `  # What did revision 7 change since revision 6?
  deckhand diff my-cool-app 6 7

  # Has anyone changed the stack since revision 7 was deployed?
  deckhand diff --detailed-exitcode my-cool-app 7`,
		Args:   cobra.RangeArgs(2, 3),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			revs := make([]int, 0, 2)
			for _, a := range args[1:] {
				n, err := parseRevision(a)
				if err != nil {
					return err
				}
				revs = append(revs, n)
			}
			to := 0
			if len(revs) == 2 {
				to = revs[1]
			}
			return runDiff(cmd.Context(), args[0], revs[0], to, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.format, "format", "text", "output format: text or json")
	fs.BoolVar(&o.detailedExitCode, "detailed-exitcode", false, "exit 0 when both sides are the same, 2 when they differ, 1 on error")
	return cmd
}

// runDiff prints what differs between revisions from and to (0: live).
func runDiff(ctx context.Context, stack string, from, to int, o diffOptions, out, errw io.Writer) error {
	c, err := connectStack(ctx, o.target, o.format, stack)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(errw, "comparing revisions of stack %s on %s\n", stack, c)
	d, err := deploy.Diff(ctx, c, stack, from, to)
	if err != nil {
		return err
	}
	if o.format == "json" {
		err = writeJSON(out, struct {
			*deploy.StackDiff
			Target engineJSON `json:"target"`
		}{d, c.JSON()})
	} else {
		err = writeDiff(out, d)
	}
	if err == nil && o.detailedExitCode && len(d.Changes) > 0 {
		return exit.With(exit.Changes, nil)
	}
	return err
}

// writeDiff prints a diff the way plan prints its changes.
func writeDiff(w io.Writer, d *deploy.StackDiff) error {
	to := fmt.Sprintf("revision %d", d.To)
	if d.To == 0 {
		to = "the live stack"
	}
	counts := map[plan.Action]int{}
	for _, c := range d.Changes {
		counts[c.Action]++
	}
	if _, err := fmt.Fprintf(w, "Stack %s, revision %d -> %s: %d service(s) added, %d changed, %d removed, %d unchanged\n",
		d.Stack, d.From, to, counts[plan.ActionCreate], counts[plan.ActionUpdate], counts[plan.ActionRemove], d.Unchanged); err != nil {
		return err
	}
	return plan.WriteChanges(w, d.Changes)
}
