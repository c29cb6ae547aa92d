package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/deploy"
)

type rollbackOptions struct {
	opts   deploy.RollbackOptions
	detach bool
	format string
}

func newRollbackCommand() *cobra.Command {
	var o rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] STACK [SERVICE...]",
		Short: "Roll services of a stack back to their previous spec",
		Long: `Rollback asks swarm to roll the named services of the stack (all of them when
none is named) back to the spec they had before their last update, then waits
for them to converge like deploy does. Services are named by their key in the
compose file (web) or their swarm name (my-cool-app_web).`,
		Example: `  # Undo the last deploy of the web service
  deckhand rollback my-cool-app web

  # Roll back every service of the stack that has a previous spec
  deckhand rollback --timeout 2m my-cool-app`,
		Args:   cobra.MinimumNArgs(1),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.opts.Services = args[1:]
			o.opts.Wait = !o.detach
			return runRollback(cmd.Context(), args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.detach, "detach", false, "return after requesting the rollback, without waiting")
	fs.DurationVar(&o.opts.Timeout, "timeout", 5*time.Minute, "how long to wait for convergence")
	fs.DurationVar(&o.opts.PendingTimeout, "pending-timeout", deploy.DefaultPendingTimeout, "fail when a task stays pending this long because swarm cannot schedule it")
	fs.StringVar(&o.format, "format", "text", "output format: text or json")
	return cmd
}

// runRollback rolls services of a stack back to their previous spec.
func runRollback(ctx context.Context, namespace string, o rollbackOptions, out, errw io.Writer) error {
	if err := checkFormat(o.format); err != nil {
		return err
	}
	if err := compose.ValidateName(namespace); err != nil {
		return err
	}
	c, err := connectEngine(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	progress := out
	if o.format == "json" {
		progress = errw
	}
	o.opts.Out, o.opts.Progress, o.opts.Logger = progress, newWaitDisplay(progress), slog.Default()
	res, err := deploy.Rollback(ctx, c, namespace, o.opts)
	return writeResult(out, o.format, res, err)
}
