package main

import "github.com/spf13/cobra"

func newWatchCommand(t *target) *cobra.Command {
	o := nginxOptions{target: t}
	cmd := &cobra.Command{
		Use:   "watch --out FILE [OPTIONS] [STACK...]",
		Short: "Keep the nginx config in step with the swarm",
		Long: `Watch applies the nginx config (as "deckhand nginx apply" does) and keeps it
current: service and node events trigger a read at once, and tasks are polled
(every --poll-fast while a service is updating or converging, every
--poll-slow when steady) because swarm sends no task events. Changes are
debounced: applied after --debounce-min of quiet, never later than
--debounce-max after the first. A full re-render and apply runs every
--resync.

When the engine is unreachable or the event stream breaks, watch retries with
exponential back-off and leaves the last good config in place; a config that
fails its test is never left on disk. Each apply is logged on stderr with the
servers added and removed. --metrics-addr serves a status page on / (every
route with its upstream, servers, nodes and tasks, what the last changes added
and removed, the last test and reload, the engine; it reloads itself every 2 s
and runs no script), /healthz (200 once a config was applied and the engine is
reachable, 503 otherwise) and Prometheus text on /metrics.`,
		Example: `  # Keep nginx pointing at two stacks; status page, health and metrics on localhost
  deckhand watch --out /etc/nginx/conf.d/deckhand.conf --metrics-addr 127.0.0.1:9180 my-cool-app blog

  # Only edge nodes, by host name, nginx listening on 8080
  deckhand watch --out /etc/nginx/conf.d/deckhand.conf --node-label role=edge --node-addr hostname --http-port 8080`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.stacks = args
			return runWatch(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	addNginxFlags(cmd.Flags(), &o, true, true)
	return cmd
}
