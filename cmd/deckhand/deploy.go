package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/deploy"
)

type deployOptions struct {
	load   compose.Options
	stack  stackFlags
	detach bool
	wait   bool
	lock   time.Duration // --lock-timeout
}

func newDeployCommand(t *target, start time.Time) *cobra.Command {
	o := deployOptions{stack: stackFlags{target: t, start: start}}
	cmd := &cobra.Command{
		Use:   "deploy [OPTIONS] STACK",
		Short: "Deploy a stack and wait until it converges",
		Long: `Deploy does what docker stack deploy does, with the same specs, plus:
preflight checks before any write (all problems reported together), one
registry lookup per distinct image, writes only for what changed (networks,
then configs and secrets, then services, in parallel), pruning of old
hash-named config/secret versions, and a wait until every changed service has
converged. An update that swarm paused or rolled back is a failure.

With --atomic any failure (engine error, convergence failure, timeout,
Ctrl-C) restores every service this run updated and removes everything it
created.

A changed service counts as converged when swarm completes its update (its
update monitor has then watched the new tasks), a new one when its tasks have
run for the monitor window, as docker stack deploy --detach=false counts them.
A task that swarm cannot place (no suitable node: a host-mode port in use,
insufficient resources, a constraint no node meets) fails the wait after
--pending-timeout, naming the error and the nodes.

One deploy of a stack runs at a time: a lock in the swarm (STACK.lock) names
its holder; a second run waits up to --lock-timeout. Every deploy that changes
something is recorded as a revision in the swarm (see deckhand history,
status, diff and rollback --to); a run that died half-way is reported by the
next plan or deploy, and deploy --atomic restores the revision before it
first. Services with depends_on are written in waves, each after its
dependencies meet their condition.

Exit codes: 0 converged, 1 error before or while applying, 3 failed to
converge (rolled back, unschedulable or timed out).`,
		Example: `  # What CI runs instead of docker stack deploy
  deckhand deploy --prune --with-registry-auth --resolve-image always -c deployment.yml my-cool-app

  # All or nothing, give up after two minutes, machine-readable result
  deckhand deploy --atomic --timeout 2m --format json -c deployment.yml my-cool-app

  # Promote the images staging runs now to production, then look at the record
  deckhand deploy --images-from-context staging -c deployment.yml my-cool-app
  deckhand history my-cool-app`,
		Args:   cobra.ExactArgs(1),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.load.Name = args[0]
			o.load.Stdin = cmd.InOrStdin()
			o.load.Environ = processEnviron()
			o.stack.deploy.Wait = o.wait && !o.detach
			return runDeploy(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	addLoadFlags(fs, &o.load)
	addPlanFlags(fs, &o.stack)
	fs.BoolVar(&o.stack.deploy.WithRegistryAuth, "with-registry-auth", false, "send registry credentials (docker config, credential helpers) to the swarm agents")
	fs.BoolVar(&o.detach, "detach", false, "return after writing, without waiting for the services to converge")
	fs.BoolVar(&o.wait, "wait", true, "wait until every changed service converges (the default; --detach turns it off)")
	fs.DurationVar(&o.stack.deploy.Timeout, "timeout", 5*time.Minute, "how long to wait for convergence (with depends_on waves: the whole deploy, every wave's wait included)")
	fs.DurationVar(&o.stack.deploy.PendingTimeout, "pending-timeout", deploy.DefaultPendingTimeout, "fail when a task stays pending this long because swarm cannot schedule it (no suitable node, port in use, resources, constraints)")
	fs.BoolVar(&o.stack.deploy.Atomic, "atomic", false, "on any failure, restore updated services and remove created objects")
	fs.StringVar(&o.stack.format, "format", "text", "output format: text or json (result on stdout, progress on stderr)")
	fs.BoolVar(&o.stack.timings, "timings", false, "print how long each phase took to stderr (and, with --format json, in the result)")
	addLockTimeoutFlag(fs, &o.lock)
	return cmd
}

// runDeploy loads, checks, applies and waits for the stack, printing
// progress (to errw with --format json, where out gets the result).
func runDeploy(ctx context.Context, o deployOptions, out, errw io.Writer) error {
	source, c, err := connectForDeploy(ctx, o.load, &o.stack, errw)
	if err != nil {
		return err
	}
	defer c.Close()
	progress := progressWriter(o.stack.format, out, errw)
	fmt.Fprintf(progress, "deploying stack %s to %s\n", o.load.Name, c)
	o.stack.deploy.Out = progress
	o.stack.deploy.Progress = newWaitDisplay(progress)
	finish := func(res *deploy.Result, err error) error {
		res.Timings = o.stack.finishTimings(errw)
		return writeResult(out, o.stack.format, c, res, err)
	}
	// A deploy that changes nothing writes nothing, its lock included:
	// when no run holds the lock and none died half-way, it plans first,
	// as plan does, and takes the lock only to write.
	prep, planned, err := planBeforeLock(ctx, c, o.load.Name, source, o.stack.deploy)
	if planned && err != nil {
		return finish(deploy.Failed(o.load.Name, err))
	}
	if planned && !prep.Plan.HasChanges() {
		d := o.stack.deploy
		d.Prepared = prep
		return finish(deploy.DeployFrom(ctx, c, o.load.Name, source, d))
	}
	tm := o.stack.deploy.Timings
	endLock := tm.Begin("lock")
	release, waited, err := holdLock(ctx, c, o.load.Name, "deploy", o.lock, progress)
	endLock()
	if err != nil {
		return err
	}
	defer release()
	endCheck := tm.Begin("unfinished runs")
	found, err := recoverUnfinished(ctx, c, o.load.Name, o.stack.deploy.Atomic, o.stack.deploy, progress)
	endCheck()
	if err != nil {
		return err
	}
	if planned && !waited && !found {
		// The plan stands if no run wrote between it and the lock.
		if ok, err := deploy.Current(ctx, c, o.load.Name, prep); err == nil && ok {
			o.stack.deploy.Prepared = prep
		}
	}
	return finish(deploy.DeployFrom(ctx, c, o.load.Name, source, o.stack.deploy))
}

// planBeforeLock prepares the deploy without the stack's lock when no run
// holds it and none died half-way (planned); otherwise the deploy takes the
// lock first, as it always did.
func planBeforeLock(ctx context.Context, c *engineConn, stack string, source deploy.Source, d deploy.Options) (prep *deploy.Prepared, planned bool, err error) {
	endCheck := d.Timings.Begin("lock check")
	var held, unfinished bool
	var wg sync.WaitGroup
	wg.Go(func() {
		info, err := deploy.ReadLock(ctx, c, stack)
		held = err != nil || info != nil
	})
	wg.Go(func() {
		u, err := deploy.FindUnfinished(ctx, c, stack)
		unfinished = err != nil || u != nil
	})
	wg.Wait()
	endCheck()
	if held || unfinished {
		return nil, false, nil
	}
	prep, err = deploy.PrepareFrom(ctx, c, stack, source, d)
	return prep, true, err
}
