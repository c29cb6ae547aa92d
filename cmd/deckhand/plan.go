package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/plan"
)

type planOptions struct {
	load             compose.Options
	stack            stackFlags
	detailedExitCode bool // exit 2 when the plan has changes
}

func newPlanCommand(t *target, start time.Time) *cobra.Command {
	o := planOptions{stack: stackFlags{target: t, start: start}}
	cmd := &cobra.Command{
		Use:   "plan [OPTIONS] STACK",
		Short: "Show what a deploy would change, without writing",
		Long: `Plan loads the stack like render, runs every preflight check deploy runs (swarm
manager, leader, external networks/configs/secrets, images resolvable), and
prints the services, networks, configs and secrets a deploy would create,
update (with the fields that change; environment values are redacted) and
remove (with --prune). It never writes to the swarm.

With --detailed-exitcode the exit code is 0 when nothing would change, 2 when
something would, and 1 on error.`,
		Example: `  # What would deploying deployment.yml as my-cool-app change?
  deckhand plan -c deployment.yml my-cool-app

  # In CI: fail the job on errors, branch on changes, keep the plan as JSON
  deckhand plan --detailed-exitcode --format json --prune -c deployment.yml my-cool-app > plan.json`,
		Args:   cobra.ExactArgs(1),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.load.Name = args[0]
			o.load.Stdin = cmd.InOrStdin()
			o.load.Environ = processEnviron()
			return runPlan(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	addLoadFlags(fs, &o.load)
	addPlanFlags(fs, &o.stack)
	fs.BoolVar(&o.detailedExitCode, "detailed-exitcode", false, "exit 0 when nothing would change, 2 when something would, 1 on error")
	fs.StringVar(&o.stack.format, "format", "text", "output format: text or json")
	fs.BoolVar(&o.stack.timings, "timings", false, "print how long each phase took to stderr")
	return cmd
}

// runPlan loads the stack, checks it against the swarm and prints what a
// deploy would write, without writing anything.
func runPlan(ctx context.Context, o planOptions, out, errw io.Writer) error {
	source, c, err := connectForDeploy(ctx, o.load, &o.stack, errw)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(errw, "planning stack %s against %s\n", o.load.Name, c)
	o.stack.deploy.Out = errw // warnings; the plan goes to out
	prep, err := deploy.PrepareFrom(ctx, c, o.load.Name, source, o.stack.deploy)
	o.stack.finishTimings(errw)
	if err != nil {
		return err
	}
	if note := lockNote(ctx, c, o.load.Name); note != "" {
		fmt.Fprintln(errw, note)
	}
	if note := unfinishedNote(ctx, c, o.load.Name); note != "" {
		fmt.Fprintln(errw, note)
	}
	if prep.Managers == 1 {
		fmt.Fprintf(errw, "note: %s\n", oneManagerNote)
	}
	if o.stack.format == "json" {
		err = writeJSON(out, struct {
			*plan.Plan
			Target engineJSON `json:"target"`
		}{prep.Plan, c.JSON()})
	} else {
		err = prep.Plan.WriteText(out)
	}
	if err != nil {
		return err
	}
	if o.detailedExitCode && prep.Plan.HasChanges() {
		return exit.With(exit.Changes, nil)
	}
	return nil
}
