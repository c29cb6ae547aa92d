package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/stack"
)

type planOptions struct {
	load stack.Options
	run  stack.PlanRun
}

func newPlanCommand() *cobra.Command {
	var o planOptions
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
			o.load.Environ = stack.ProcessEnviron()
			return stack.RunPlan(cmd.Context(), o.load, o.run, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	stack.AddLoadFlags(fs, &o.load)
	addPlanFlags(fs, &o.run.Deploy)
	fs.BoolVar(&o.run.DetailedExitCode, "detailed-exitcode", false, "exit 0 when nothing would change, 2 when something would, 1 on error")
	fs.StringVar(&o.run.Format, "format", "text", "output format: text or json")
	return cmd
}

// addPlanFlags binds the flags plan and deploy share.
func addPlanFlags(fs *pflag.FlagSet, d *stack.DeployOptions) {
	fs.BoolVar(&d.Prune, "prune", false, "remove services no longer in the file and unused config/secret versions")
	fs.StringVar(&d.ResolveImage, "resolve-image", stack.ResolveAlways, `query the registry for image digests: "always", "changed" or "never"`)
	fs.IntVar(&d.KeepVersions, "keep-versions", 2, "with --prune, unused versions of each hash-named config/secret to keep")
	fs.IntVar(&d.Parallel, "parallel", 8, "concurrent engine writes and registry lookups")
}
