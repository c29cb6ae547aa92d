package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/plan"
)

type rollbackOptions struct {
	target *target
	opts   deploy.RollbackOptions
	detach bool
	format string
	// With --to: the revision, and the deploy options the restore runs with.
	to      int
	deploy  deploy.Options
	resolve string
	revs    revisionFlags
	lock    time.Duration // --lock-timeout
}

func newRollbackCommand(t *target) *cobra.Command {
	o := rollbackOptions{target: t}
	cmd := &cobra.Command{
		Use:   "rollback [OPTIONS] STACK [SERVICE...]",
		Short: "Roll a stack back to a recorded revision, or services to their previous spec",
		Long: `With --to REV, rollback brings the whole stack back to that recorded revision
(deckhand history lists them): every service spec with its pinned image
digest and its config and secret versions, the services that revision had
and the stack lacks now are created again, and those it did not have are
removed. It checks everything first (the versions still exist, the images
still resolve), then writes, waits and exits like deploy (--atomic,
--timeout, exit 3 when a service does not converge), and records a new
revision. Config and secret versions are never removed by it.

Without --to, rollback asks swarm to roll the named services of the stack
(all of them when none is named) back to the spec they had before their last
update, then waits for them to converge like deploy does. Services are named
by their key in the compose file (web) or their swarm name (my-cool-app_web).

Exit codes: 0 converged, 1 error before or while applying, 3 failed to
converge (rolled back or timed out).`,
		Example: `  # The whole stack as revision 7 left it, all or nothing
  deckhand rollback --to 7 --atomic --with-registry-auth my-cool-app

  # Undo the last deploy of the web service
  deckhand rollback my-cool-app web

  # Roll back every service of the stack that has a previous spec
  deckhand rollback --timeout 2m my-cool-app`,
		Args:   cobra.MinimumNArgs(1),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.opts.Services = args[1:]
			o.opts.Wait = !o.detach
			o.deploy.Wait = !o.detach
			if err := o.checkFlags(cmd); err != nil {
				return err
			}
			if o.to > 0 {
				return runRollbackTo(cmd.Context(), args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			return runRollback(cmd.Context(), args[0], o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags binds the flags of rollback to o.
func (o *rollbackOptions) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.detach, "detach", false, "return after requesting the rollback, without waiting")
	fs.DurationVar(&o.opts.Timeout, "timeout", 5*time.Minute, "how long to wait for convergence")
	fs.DurationVar(&o.opts.PendingTimeout, "pending-timeout", deploy.DefaultPendingTimeout, "fail when a task stays pending this long because swarm cannot schedule it")
	fs.StringVar(&o.format, "format", "text", "output format: text or json")
	fs.IntVar(&o.to, "to", 0, "restore the whole stack to this recorded revision (deckhand history lists them)")
	fs.BoolVar(&o.deploy.Atomic, "atomic", false, "with --to: on any failure, restore updated services and remove created ones")
	fs.BoolVar(&o.deploy.WithRegistryAuth, "with-registry-auth", false, "with --to: send registry credentials (docker config, credential helpers) to the swarm agents")
	fs.StringVar(&o.resolve, "resolve-image", string(plan.ResolveAlways), `with --to: "always" or "changed" check that every pinned image still resolves; "never" skips the registry`)
	fs.IntVar(&o.deploy.Parallel, "parallel", 8, "with --to: concurrent engine writes and registry lookups")
	addKeepRevisionsFlag(fs, &o.revs)
	addLockTimeoutFlag(fs, &o.lock)
}

// checkFlags refuses flags that only make sense with --to, or not with it.
func (o *rollbackOptions) checkFlags(cmd *cobra.Command) error {
	if cmd.Flags().Changed("to") && o.to < 1 {
		return fmt.Errorf("--to %d: give a revision number that deckhand history lists", o.to)
	}
	if o.to > 0 {
		if len(o.opts.Services) > 0 {
			return errors.New("--to restores the whole stack: drop the service names, or drop --to to roll back single services")
		}
		return nil
	}
	for _, name := range []string{"atomic", "with-registry-auth", "resolve-image", "parallel", "keep-revisions"} {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s goes with --to REV; rolling back services to their previous spec takes no --%s", name, name)
		}
	}
	return nil
}

// runRollback rolls services of a stack back to their previous spec.
func runRollback(ctx context.Context, namespace string, o rollbackOptions, out, errw io.Writer) error {
	c, err := connectStack(ctx, o.target, o.format, namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	progress := progressWriter(o.format, out, errw)
	fmt.Fprintf(progress, "rolling back stack %s on %s\n", namespace, c)
	release, _, err := holdLock(ctx, c, namespace, "rollback", o.lock, progress)
	if err != nil {
		return err
	}
	defer release()
	if _, err := recoverUnfinished(ctx, c, namespace, false, o.deploy, progress); err != nil {
		return err
	}
	o.opts.Out, o.opts.Progress, o.opts.Logger = progress, newWaitDisplay(progress), slog.Default()
	res, err := deploy.Rollback(ctx, c, namespace, o.opts)
	return writeResult(out, o.format, c, res, err)
}

// runRollbackTo restores the whole stack to a recorded revision.
func runRollbackTo(ctx context.Context, namespace string, o rollbackOptions, out, errw io.Writer) error {
	d, err := o.restoreOptions()
	if err != nil {
		return err
	}
	c, err := connectStack(ctx, o.target, o.format, namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	progress := progressWriter(o.format, out, errw)
	fmt.Fprintf(progress, "rolling back stack %s to revision %d on %s\n", namespace, o.to, c)
	release, _, err := holdLock(ctx, c, namespace, "rollback", o.lock, progress)
	if err != nil {
		return err
	}
	defer release()
	if _, err := recoverUnfinished(ctx, c, namespace, false, d, progress); err != nil {
		return err
	}
	d.Auth = newRegistryAuth(c.Config).Encode
	d.Out, d.Progress, d.Logger = progress, newWaitDisplay(progress), slog.Default()
	res, err := deploy.RollbackTo(ctx, c, namespace, o.to, d)
	return writeResult(out, o.format, c, res, err)
}

// restoreOptions are the deploy options rollback --to runs with, from its
// flags: the wait's --timeout and --pending-timeout are the same flags as
// without --to.
func (o rollbackOptions) restoreOptions() (deploy.Options, error) {
	mode, err := plan.ParseResolveMode(o.resolve)
	if err != nil {
		return deploy.Options{}, fmt.Errorf("unknown --resolve-image %q: use always, changed or never", o.resolve)
	}
	d := o.deploy
	if d.Revision, err = o.revs.revisionOptions(); err != nil {
		return deploy.Options{}, err
	}
	d.ResolveImage, d.Timeout, d.PendingTimeout = mode, o.opts.Timeout, o.opts.PendingTimeout
	return d, nil
}
