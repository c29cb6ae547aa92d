package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/deckhand/deckhand/cmd/deckhand/internal/quorumplot"
	"github.com/deckhand/deckhand/quorum"
)

// The manager counts --plot draws without --plot-range: those of --table.
const (
	plotFromDefault = 1
	plotToDefault   = quorumTableManagers
)

// plotFormat is the format --plot's file name asks for.
func plotFormat(file string) (quorumplot.Format, error) {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".svg":
		return quorumplot.SVG, nil
	case ".png":
		return quorumplot.PNG, nil
	}
	return "", fmt.Errorf("--plot %q: name a .svg or .png file, such as quorum.svg", file)
}

// parsePlotRange reads --plot-range FROM-TO.
func parsePlotRange(s string) (from, to int, err error) {
	if s == "" {
		return plotFromDefault, plotToDefault, nil
	}
	a, b, ok := strings.Cut(s, "-")
	from, errA := strconv.Atoi(strings.TrimSpace(a))
	to, errB := strconv.Atoi(strings.TrimSpace(b))
	if !ok || errA != nil || errB != nil || from < 1 || to < from || to > quorum.MaxManagers {
		return 0, 0, fmt.Errorf("--plot-range %q is not a range of manager counts: give FROM-TO with 1 ≤ FROM ≤ TO ≤ %d, such as 3-15", s, quorum.MaxManagers)
	}
	return from, to, nil
}

// plotInput turns the flags into what the plot shows.
func (o quorumOptions) plotInput() (quorumplot.Input, error) {
	ps, err := o.nodeDownPs()
	if err != nil {
		return quorumplot.Input{}, err
	}
	if len(ps) == 0 {
		return quorumplot.Input{}, errors.New("no node failure probability to plot: give --p (such as --p 0.001,0.01,0.05) or --mtbf and --mttr (such as --mtbf 500h,2000h --mttr 4h)")
	}
	if len(ps) > quorumplot.MaxCurves {
		return quorumplot.Input{}, fmt.Errorf("%d node probabilities: a plot tells at most %d apart, give fewer to --p (or --mtbf and --mttr)", len(ps), quorumplot.MaxCurves)
	}
	in := quorumplot.Input{}
	if in.From, in.To, err = parsePlotRange(o.plotRange); err != nil {
		return quorumplot.Input{}, err
	}
	for _, p := range ps {
		if p.p == 0 {
			return quorumplot.Input{}, errors.New("--p 0 never loses quorum and has no place on a log scale: give probabilities above 0")
		}
		in.Nodes = append(in.Nodes, quorumplot.NodeP{P: p.p, Label: p.label})
	}
	if o.targetSet {
		in.Target = o.target
	}
	switch {
	case o.zoneCount != 0:
		in.Zones = &quorumplot.Zones{Count: o.zoneCount, P: o.zoneP}
	case o.zonesSet:
		spread, err := quorum.ParseZones(o.zones)
		if err != nil {
			return quorumplot.Input{}, fmt.Errorf("--zones: %w", err)
		}
		if n := spread.Managers(); n < in.From || n > in.To {
			return quorumplot.Input{}, fmt.Errorf("--zones %s holds %d managers, outside --plot-range %d-%d: widen the range", o.zones, n, in.From, in.To)
		}
		in.Zones = &quorumplot.Zones{Count: len(spread), P: o.zoneP, Given: spread}
	}
	if in.Zones != nil && in.To > quorum.MaxSpreadManagers {
		return quorumplot.Input{}, fmt.Errorf("--plot-range %d-%d with zones: the best spread is searched up to %d managers; end the range at %d or lower", in.From, in.To, quorum.MaxSpreadManagers, quorum.MaxSpreadManagers)
	}
	return in, nil
}

// runQuorumPlot draws the plot into --plot and says what it drew (with
// --format json, every number plotted).
func runQuorumPlot(w io.Writer, o quorumOptions) error {
	format, err := plotFormat(o.plot)
	if err != nil {
		return err
	}
	in, err := o.plotInput()
	if err != nil {
		return err
	}
	fig, err := quorumplot.Build(in)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := fig.Write(&b, format); err != nil {
		return err
	}
	if err := os.WriteFile(o.plot, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the plot: %w; check the directory of --plot", err)
	}
	if o.format == quorumFormatJSON {
		return writeJSON(w, toPlotJSON(o.plot, format, fig))
	}
	_, err = fmt.Fprintln(w, describePlot(o.plot, fig))
	return err
}

// describePlot says in one line what the file shows.
func describePlot(file string, f quorumplot.Figure) string {
	labels := make([]string, len(f.Curves))
	for i, c := range f.Curves {
		labels[i] = c.Label
	}
	s := fmt.Sprintf("wrote %s: probability of losing quorum for %d to %d managers, exact and estimated, at %s", file, f.From, f.To, strings.Join(labels, "; "))
	if f.Target != 0 {
		s += fmt.Sprintf("; target %s", fmtProb(f.Target))
	}
	if z := f.Zones; z != nil {
		s += fmt.Sprintf("; best spread over %d zones, each down with probability %s", z.Count, fmtProb(z.P))
		if z.Given != nil {
			s += fmt.Sprintf(", spread %s marked", z.Given)
		}
	}
	return s
}

type plotJSON struct {
	File      string          `json:"file"`
	Format    string          `json:"format"`
	Managers  [2]int          `json:"managers"`
	Target    float64         `json:"target,omitempty"`
	ZoneCount int             `json:"zone_count,omitempty"`
	ZoneP     float64         `json:"zone_p,omitempty"`
	Given     []int           `json:"given_spread,omitempty"`
	Curves    []plotCurveJSON `json:"curves"`
}

type plotCurveJSON struct {
	P      float64        `json:"p"`
	Label  string         `json:"label"`
	Points []tableRowJSON `json:"points"`
	Given  *zoneJSON      `json:"given_spread,omitempty"`
}

func toPlotJSON(file string, format quorumplot.Format, f quorumplot.Figure) plotJSON {
	out := plotJSON{File: file, Format: string(format), Managers: [2]int{f.From, f.To}, Target: f.Target}
	if z := f.Zones; z != nil {
		out.ZoneCount, out.ZoneP, out.Given = z.Count, z.P, z.Given
	}
	for _, c := range f.Curves {
		cj := plotCurveJSON{P: c.P, Label: c.Label, Given: toZoneJSON(c.Given)}
		for _, pt := range c.Points {
			r := toTableRowJSON(pt.Analysis)
			r.Best = toZoneJSON(pt.Best)
			cj.Points = append(cj.Points, r)
		}
		out.Curves = append(out.Curves, cj)
	}
	return out
}
