package main

import "github.com/spf13/cobra"

func newNginxCommand(t *target) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nginx",
		Short: "Render or apply the nginx config that routes to the swarm's services",
		Long: `The nginx commands turn the swarm's services into an nginx config: one upstream
per service and port (STACK_SERVICE, or STACK_SERVICE_PORT when it publishes
several), and server blocks routed by the service labels deckhand.http.host,
deckhand.http.path and deckhand.http.port (set them under deploy.labels).

The file is meant for an include inside nginx's http {} block. A service with
no live server answers 503; its upstream is left out so nginx accepts the file.`,
		Example: `  # Print the config for two stacks
  deckhand nginx render my-cool-app blog

  # Write it, test it with nginx -t and reload nginx
  deckhand nginx apply --out /etc/nginx/conf.d/deckhand.conf`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newNginxRenderCommand(t), newNginxApplyCommand(t))
	return cmd
}

func newNginxRenderCommand(t *target) *cobra.Command {
	o := nginxOptions{target: t}
	cmd := &cobra.Command{
		Use:   "render [OPTIONS] [STACK...]",
		Short: "Print the nginx config for the current swarm state",
		Long: `Render reads the swarm's nodes, services and tasks and prints the nginx config
(or, with --format json, the routing model). It writes nothing. Without STACK
it covers every service; a service whose labels are invalid is reported on
stderr and left out.

--template FILE replaces the built-in template (Go text/template, missing keys
are errors). Its data: .HTTPPort; .Listen ("PORT" or "ADDR:PORT");
.Upstreams, each with .Name, .TargetPort and .Servers (each prints as
addr:port, and has .Addr and .Port), only those with servers; .Servers, the
virtual hosts, each with .Host ("" for the default server), .Default,
.NotFound (no location covers "/") and .Locations (.Path, .Upstream, .Service,
.Empty: no live server, answer 503); .Model, the routing model --format json
prints. Functions: quote (an nginx double-quoted string), join, lower, upper.`,
		Example: `  # The config for one stack, servers at the nodes' host names
  deckhand nginx render --node-addr hostname my-cool-app

  # Routing model as JSON, for scripts
  deckhand nginx render --format json my-cool-app

  # For an nginx running as a service on the overlay network "edge"
  deckhand nginx render --backend tasks --network edge my-cool-app`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.stacks = args
			return runNginxRender(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addNginxFlags(cmd.Flags(), &o, false, false)
	cmd.Flags().StringVar(&o.format, "format", nginxFormatText, "output format: text (the config) or json (the routing model)")
	return cmd
}

func newNginxApplyCommand(t *target) *cobra.Command {
	o := nginxOptions{target: t}
	cmd := &cobra.Command{
		Use:   "apply --out FILE [OPTIONS] [STACK...]",
		Short: "Render, test, swap and reload the nginx config once",
		Long: `Apply renders the config and, if its bytes differ from FILE, writes it next to
FILE, fsyncs it and renames it into place (the previous file kept as FILE.bak,
its mode kept), runs the test command, and reloads nginx. When the test fails
the previous file is restored and nginx is not reloaded: the file on disk has
always passed the test.`,
		Example: `  # Once, with the defaults (nginx -t, nginx -s reload)
  deckhand nginx apply --out /etc/nginx/conf.d/deckhand.conf my-cool-app

  # nginx in a container on this host
  deckhand nginx apply --out ./conf.d/deckhand.conf \
    --test-command "docker exec edge nginx -t" --reload-command "docker exec edge nginx -s reload"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.stacks = args
			return runNginxApply(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addNginxFlags(cmd.Flags(), &o, true, false)
	return cmd
}
