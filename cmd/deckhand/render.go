package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/stack/compose"
)

type renderOptions struct {
	load   compose.Options
	format string
}

func newRenderCommand() *cobra.Command {
	var o renderOptions
	cmd := &cobra.Command{
		Use:   "render [OPTIONS] STACK",
		Short: "Print the stack exactly as it will be deployed",
		Long: `Render merges the compose files, substitutes variables from the environment and
env files, names every resource as swarm will (STACK_web, STACK_default, and
STACK_KEY_<hash> for configs and secrets with content), and prints the result.

Every variable that is unset and has no default is reported at once with its
file:line:column; --allow-missing substitutes an empty string instead, as
docker stack deploy does. Keys swarm ignores or rejects are warned about with
the swarm way to say them. render never contacts an engine.`,
		Example: `  # Render with .env next to deployment.yml and the process environment
  deckhand render -c deployment.yml my-cool-app

  # Merge an override, read production variables, print JSON for a script
  deckhand render -c deployment.yml -c prod.yml --env-file prod.env --format json my-cool-app

  # Render from standard input
  REGISTRY=registry.example.com deckhand render -c - my-cool-app < deployment.yml`,
		Args:   cobra.ExactArgs(1),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.load.Name = args[0]
			o.load.Stdin = cmd.InOrStdin()
			o.load.Environ = processEnviron()
			return runRender(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addLoadFlags(cmd.Flags(), &o.load)
	cmd.Flags().StringVar(&o.format, "format", "yaml", "output format: yaml or json")
	return cmd
}

// runRender loads the stack and writes it to out as YAML or JSON; warnings
// go to errw, one line each.
func runRender(ctx context.Context, o renderOptions, out, errw io.Writer) error {
	if o.format != "yaml" && o.format != "json" {
		return fmt.Errorf("unknown --format %q: use yaml or json", o.format)
	}
	st, err := compose.Load(ctx, o.load)
	if err != nil {
		return err
	}
	printWarnings(errw, st)
	var doc []byte
	if o.format == "json" {
		doc, err = st.JSON()
	} else {
		doc, err = st.YAML()
	}
	if err != nil {
		return err
	}
	_, err = out.Write(doc)
	return err
}

// printWarnings writes a loaded stack's warnings, one line each.
func printWarnings(w io.Writer, st *compose.Stack) {
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
