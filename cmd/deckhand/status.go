package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/revision"
)

type statusOptions struct {
	target *target
	format string
}

func newStatusCommand(t *target) *cobra.Command {
	o := statusOptions{target: t}
	cmd := &cobra.Command{
		Use:   "status [OPTIONS] STACK",
		Short: "Show which revision runs and how each service is doing",
		Long: `Status is what to run first when paged: the revision the live stack runs (the
newest recorded revision whose specs it matches exactly) and the latest one,
and for every service its running and desired tasks, swarm's update state and
the most recent task error. It only reads.

Exit codes: 0 every service converged, 3 some did not (updating, paused, or
tasks not running), 1 error.`,
		Example: `  deckhand status my-cool-app

  # In a script: is it healthy?
  deckhand status --format json my-cool-app > status.json || echo "not converged (exit $?)"`,
		Args:   cobra.ExactArgs(1),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), args[0], o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "text", "output format: text or json")
	return cmd
}

// runStatus prints the stack's status; exit 3 when it has not converged.
func runStatus(ctx context.Context, stack string, o statusOptions, out io.Writer) error {
	c, err := connectStack(ctx, o.target, o.format, stack)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := deploy.StackStatus(ctx, c, stack)
	if err != nil {
		return err
	}
	if o.format == "json" {
		err = writeJSON(out, struct {
			*deploy.Status
			Target engineJSON `json:"target"`
		}{st, c.JSON()})
	} else {
		err = writeStatus(out, st, c.String())
	}
	if err == nil && !st.Converged {
		return exit.With(exit.NotConverge, nil)
	}
	return err
}

// revisionText is one revision in a sentence: 5 (deploy by root@vm at ..., converged).
func revisionText(s *revision.Summary) string {
	return fmt.Sprintf("%d (%s by %s at %s, %s)", s.Number, s.Describe(), s.Who, timeText(s.Time), s.Outcome)
}

// writeStatus prints the status for people.
func writeStatus(w io.Writer, st *deploy.Status, where string) error {
	state := "converged"
	if !st.Converged {
		n := 0
		for _, s := range st.Services {
			if !s.Converged {
				n++
			}
		}
		state = fmt.Sprintf("NOT converged (%d of %d services)", n, len(st.Services))
	}
	fmt.Fprintf(w, "Stack %s on %s: %s\n", st.Stack, where, state)
	switch {
	case st.Latest == nil:
		fmt.Fprintln(w, "revision: none recorded (deployed by other means); deckhand's next deploy that changes it records revision 1")
	case st.Running == nil:
		fmt.Fprintf(w, "revision: the live stack matches none of the %d recorded; latest %s; see deckhand diff %s %d\n", st.Revisions, revisionText(st.Latest), st.Stack, st.Latest.Number)
	case st.Running.Number == st.Latest.Number:
		fmt.Fprintf(w, "revision: %s\n", revisionText(st.Running))
	default:
		fmt.Fprintf(w, "revision: %s\nlatest:   %s\n", revisionText(st.Running), revisionText(st.Latest))
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tIMAGE\tTASKS\tUPDATE\tLAST TASK ERROR")
	for _, s := range st.Services {
		update := orDash(s.UpdateState)
		if !s.Converged {
			update += " !"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\n", strings.TrimPrefix(s.Service, st.Stack+"_"), revision.ShortImage(s.Image), s.Running, s.Desired, update, orDash(s.LastError))
	}
	return tw.Flush()
}
