package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/internal/version"
)

// cli holds the process streams so tests can run commands in-process.
type cli struct {
	in       io.Reader
	out, err io.Writer
	target   *target   // the engine, as the docker CLI's flags, environment and contexts name it
	start    time.Time // when run began: the origin of --timings
}

func newCLI(in io.Reader, out, err io.Writer) *cli { return &cli{in: in, out: out, err: err} }

// pluginName is the name deckhand answers to as a Docker CLI plugin
// (installed as ~/.docker/cli-plugins/docker-deckhand).
const pluginName = "deckhand"

// run executes the command line and returns the process exit code; Ctrl-C
// and SIGTERM cancel the command's context.
func (c *cli) run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.runContext(ctx, args)
}

// runContext executes the command line under ctx and returns the process
// exit code.
func (c *cli) runContext(ctx context.Context, args []string) int {
	c.start = time.Now()
	argv := args[1:]
	asPlugin := strings.HasPrefix(filepath.Base(args[0]), "docker-")
	if len(argv) > 0 && argv[0] == "docker-cli-plugin-metadata" {
		return c.pluginMetadata()
	}
	root := c.newRootCommand()
	if asPlugin {
		// docker runs plugins as "docker-deckhand [docker's global flags]
		// deckhand ARGS...": the global flags (--context, -H, --tls...)
		// choose the engine, exactly as for docker itself.
		rest, err := c.target.parsePluginGlobals(argv)
		if err != nil {
			fmt.Fprintf(c.err, "deckhand: %v\n", err)
			return exit.Failure
		}
		if len(rest) > 0 && rest[0] == pluginName {
			argv = rest[1:]
		}
	}

	// compose-go and docker/cli log through logrus; deckhand reports problems itself.
	logrus.SetOutput(io.Discard)

	top := root
	if asPlugin {
		// Under a "docker" parent, usage lines and help read "docker deckhand COMMAND"
		// (cobra names a command by the first word of Use, so Use cannot carry both).
		top = &cobra.Command{Use: "docker", SilenceUsage: true, SilenceErrors: true}
		top.CompletionOptions.DisableDefaultCmd = true
		top.AddCommand(root)
		// Below a parent cobra no longer rejects unknown commands; do it here.
		root.Args = cobra.NoArgs
		root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		argv = append([]string{pluginName}, argv...)
	}
	top.SetArgs(argv)
	err := top.ExecuteContext(ctx)
	if err != nil && !exit.Silent(err) {
		fmt.Fprintf(c.err, "deckhand: %v\n", err)
	}
	return exit.Code(err)
}

func (c *cli) newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   pluginName,
		Short: "Ship stacks to a Docker Swarm and keep nginx pointing at them",
		Long: `deckhand renders compose files into swarm stacks, deploys them with a plan,
waits for them to converge (and rolls back atomically when they don't), keeps an
nginx configuration in step with the swarm, and sizes the swarm's managers.`,
		Example: `  # Render the stack with .env and prod.env, failing on any unset variable
  deckhand render -c deployment.yml --env-file prod.env my-cool-app

  # See what a deploy would change, then deploy and wait for convergence
  deckhand plan -c deployment.yml my-cool-app
  deckhand deploy --prune --with-registry-auth -c deployment.yml my-cool-app

  # How likely is a 5-manager swarm to lose quorum if each node fails 1% of the time?
  deckhand quorum --managers 5 --p 0.01`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
	}
	root.SetIn(c.in)
	root.SetOut(c.out)
	root.SetErr(c.err)
	root.SetVersionTemplate("{{.Version}}\n")
	t := newTarget(root.PersistentFlags())
	c.target = t
	root.AddCommand(
		newRenderCommand(),
		newPlanCommand(t, c.start),
		newDeployCommand(t, c.start),
		newRollbackCommand(t),
		newUnlockCommand(t),
		newHistoryCommand(t),
		newStatusCommand(t),
		newDiffCommand(t),
		newNginxCommand(t),
		newWatchCommand(t),
		newQuorumCommand(t),
		newVersionCommand(),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Example = `  # Load completion into the current bash session
  source <(deckhand completion bash)

  # Install it for every zsh session
  deckhand completion zsh > "${fpath[1]}/_deckhand"`
			for _, sh := range c.Commands() {
				sh.Example = "  deckhand completion " + sh.Name() + " > deckhand-completion." + sh.Name()
			}
		}
	}
	return root
}

// pluginMetadata answers docker's plugin discovery call.
func (c *cli) pluginMetadata() int {
	meta := map[string]string{
		"SchemaVersion":    "0.1.0",
		"Vendor":           "deckhand",
		"Version":          version.Version,
		"ShortDescription": "Ship stacks to a swarm and keep nginx pointing at them",
		"URL":              "https://github.com/deckhand/deckhand",
	}
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(meta); err != nil {
		fmt.Fprintf(c.err, "deckhand: %v\n", err)
		return exit.Failure
	}
	return exit.OK
}
