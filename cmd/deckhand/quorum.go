package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/quorum"
)

func newQuorumCommand(t *target) *cobra.Command {
	opts := quorumOptions{engine: t}
	cmd := &cobra.Command{
		Use:   "quorum [flags]",
		Short: "Show how many manager failures a swarm tolerates and how likely it is to lose quorum",
		Long: `quorum does the Raft arithmetic of a swarm's managers. N managers need a quorum
of ⌊N/2⌋+1 and so tolerate K = ⌊(N−1)/2⌋ failures; past that, replicas keep
serving but nothing can be changed. With each node down with probability p
(--p, or --mtbf and --mttr: p = MTTR/(MTBF+MTTR)), quorum is lost with the exact
probability Σ_{i>K} C(N,i)·p^i·(1−p)^(N−i); the estimate C(N,K+1)·p^(K+1) is the
union bound, never below it.

Offline, give --managers, --zones, --table or --target. Zones (--zones 2,2,1, or
--zone-count for the best spread) can each fail whole with --zone-p on top of
node failures.

--plot FILE.svg (or .png) draws the probability of losing quorum against the
manager count (--plot-range, 1-9 by default) on a log scale: one curve per
node probability (--p takes several, or --mtbf and --mttr lists), the estimate
dashed beside the exact value, odd counts marked, the --target line, and with
--zones or --zone-count a second panel for the best spread over the zones.
--format json prints the numbers plotted.

Without them, quorum reads the swarm DOCKER_HOST points at: every manager's
state and zone (node label --zone-label), the failures left before quorum is
lost and, with --p, the probability of losing it. It exits 1 when the swarm has
already lost quorum.`,
		Example: `  # 5 managers, each down 1% of the time
  deckhand quorum --managers 5 --p 0.01

  # 1 to 9 managers side by side, with the best spread over 3 zones
  deckhand quorum --table --p 0.01 --zone-count 3 --zone-p 0.001

  # The fewest managers that lose quorum less than once in a million
  deckhand quorum --target 1e-6 --p 0.01

  # Managers spread 2-2-1 over zones that each fail whole 0.1% of the time
  deckhand quorum --zones 2,2,1 --zone-p 0.001 --p 0.01

  # Node failure probability from availability figures
  deckhand quorum --managers 3 --mtbf 2000h --mttr 4h

  # A picture: three node probabilities, a target, the best spread over 3 zones
  deckhand quorum --plot quorum.svg --p 0.001,0.01,0.05 --target 1e-6 --zone-count 3 --zone-p 0.001

  # The swarm DOCKER_HOST points at, zones from the node label "zone"
  deckhand quorum --p 0.01 --zone-label zone --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			opts.managersSet, opts.pSet, opts.targetSet = f.Changed("managers"), f.Changed("p"), f.Changed("target")
			opts.zonesSet, opts.zonePSet = f.Changed("zones"), f.Changed("zone-p")
			return runQuorum(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.managers, "managers", 0, "analyse this many managers offline instead of reading the swarm")
	f.Var(&opts.ps, "p", "probability that one node is down (0 to 1); --plot takes several, such as 0.001,0.01,0.05")
	f.StringVar(&opts.mtbf, "mtbf", "", "mean time between failures of one node, such as 2000h or 90d (with --mttr, instead of --p; --plot takes several)")
	f.StringVar(&opts.mttr, "mttr", "", "mean time to repair one node, such as 4h or 30m (with --mtbf; --plot takes several)")
	f.BoolVar(&opts.table, "table", false, "show 1 to 9 managers side by side")
	f.Float64Var(&opts.target, "target", 0, "find the fewest managers whose probability of losing quorum is at most this, such as 1e-6")
	f.StringVar(&opts.zones, "zones", "", "managers per zone, such as 2,2,1")
	f.Float64Var(&opts.zoneP, "zone-p", 0, "probability that a whole zone is down (0 to 1)")
	f.IntVar(&opts.zoneCount, "zone-count", 0, "spread the managers at best over this many zones")
	f.StringVar(&opts.zoneLabel, "zone-label", "zone", "node label that names a live manager's zone")
	f.StringVar(&opts.format, "format", quorumFormatTable, "output format: table or json")
	f.StringVar(&opts.plot, "plot", "", "draw the probability of losing quorum against the manager count into this .svg or .png file")
	f.StringVar(&opts.plotRange, "plot-range", "", "manager counts --plot draws, such as 3-15 (default 1-9)")
	return cmd
}

// runQuorum answers `deckhand quorum`: offline math when --managers,
// --zones, --table or --target is given, otherwise a live check of the
// swarm the environment names.
func runQuorum(ctx context.Context, w, errw io.Writer, o quorumOptions) error {
	if o.format != quorumFormatTable && o.format != quorumFormatJSON {
		return fmt.Errorf("--format %q is not supported: use table or json", o.format)
	}
	if err := o.checkCombination(); err != nil {
		return err
	}
	if o.zonePSet {
		if err := quorum.ValidateP(quorum.ZoneDownP, o.zoneP); err != nil {
			return quorumFlagError(err)
		}
	}
	if o.plot != "" {
		return quorumFlagError(runQuorumPlot(w, o))
	}
	p, pGiven, err := o.nodeDownP()
	if err != nil {
		return quorumFlagError(err)
	}
	if !o.offline() {
		c, err := o.engine.connect(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(errw, "reading the swarm of %s\n", c)
		return runQuorumLive(ctx, w, o, p, pGiven, c, c.JSON())
	}
	if !pGiven {
		return errors.New("no node failure probability: give --p (such as --p 0.01) or --mtbf and --mttr (such as --mtbf 2000h --mttr 4h)")
	}
	switch {
	case o.table:
		err = runQuorumTable(w, o, p)
	case o.targetSet:
		err = runQuorumTarget(w, o, p)
	case o.zonesSet:
		err = runQuorumZones(w, o, p)
	default:
		err = runQuorumManagers(w, o, p)
	}
	return quorumFlagError(err)
}
