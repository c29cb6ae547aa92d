package quorumplot

import (
	"errors"
	"fmt"

	"github.com/deckhand/deckhand/quorum"
)

// MaxCurves is how many node probabilities one plot tells apart by colour.
const MaxCurves = 6

// Input is what to plot.
type Input struct {
	// From and To are the manager counts at either end of the x axis.
	From, To int
	// Nodes are the node failure probabilities, one curve each.
	Nodes []NodeP
	// Target is the highest probability of losing quorum accepted,
	// drawn as a line; 0 for none.
	Target float64
	// Zones adds a panel for managers spread over zones; nil for none.
	Zones *Zones
}

// NodeP is one node failure probability and how the legend names it.
type NodeP struct {
	P     float64
	Label string // "p = 0.01", or how p was derived
}

// Zones describes the zone panel.
type Zones struct {
	Count int     // zones the managers spread over at best
	P     float64 // probability that a whole zone is down
	// Given is a spread to mark on the panel (nil for none); it has Count
	// zones and its manager count lies in From..To.
	Given quorum.Spread
}

// Figure is the series a plot is drawn from: every number on it.
type Figure struct {
	Input
	Curves []Curve // one per Input.Nodes, in order
}

// Curve is the series of one node failure probability.
type Curve struct {
	NodeP
	Points []Point // one per manager count, From to To
	// Given is the given spread's analysis (with Input.Zones.Given).
	Given *quorum.ZoneAnalysis
}

// Point is the quorum math of one manager count.
type Point struct {
	quorum.Analysis
	// Best is the best spread over the zones (with Input.Zones).
	Best *quorum.ZoneAnalysis
}

// Build computes the figure with the quorum package. Errors of the quorum
// math name quantities, as the quorum package's do.
func Build(in Input) (Figure, error) {
	if in.From < 1 || in.To < in.From {
		return Figure{}, fmt.Errorf("manager range %d-%d is empty: give counts from 1 up, the first no larger than the last", in.From, in.To)
	}
	if len(in.Nodes) == 0 || len(in.Nodes) > MaxCurves {
		return Figure{}, fmt.Errorf("%d node probabilities: a plot shows 1 to %d", len(in.Nodes), MaxCurves)
	}
	for _, n := range in.Nodes {
		if err := quorum.ValidateP(quorum.NodeDownP, n.P); err != nil {
			return Figure{}, err
		}
		if n.P == 0 {
			return Figure{}, errors.New("node probability 0 never loses quorum and has no place on a log scale: give probabilities above 0")
		}
	}
	if in.Target != 0 {
		if err := quorum.ValidateTarget(in.Target); err != nil {
			return Figure{}, err
		}
	}
	if z := in.Zones; z != nil && z.Given != nil {
		if n := z.Given.Managers(); n < in.From || n > in.To {
			return Figure{}, fmt.Errorf("spread %s has %d managers, outside the plotted %d-%d: widen the range", z.Given, n, in.From, in.To)
		}
	}
	f := Figure{Input: in}
	for _, n := range in.Nodes {
		c := Curve{NodeP: n}
		for m := in.From; m <= in.To; m++ {
			a, err := quorum.Analyze(m, n.P)
			if err != nil {
				return Figure{}, err
			}
			pt := Point{Analysis: a}
			if in.Zones != nil {
				b, err := quorum.BestSpread(m, in.Zones.Count, n.P, in.Zones.P)
				if err != nil {
					return Figure{}, err
				}
				pt.Best = &b
			}
			c.Points = append(c.Points, pt)
		}
		if in.Zones != nil && in.Zones.Given != nil {
			g, err := quorum.AnalyzeZones(in.Zones.Given, n.P, in.Zones.P)
			if err != nil {
				return Figure{}, err
			}
			c.Given = &g
		}
		f.Curves = append(f.Curves, c)
	}
	return f, nil
}
