package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/quorum"
)

type liveManagerJSON struct {
	ID       string       `json:"id"`
	Hostname string       `json:"hostname"`
	Addr     string       `json:"addr"`
	State    quorum.State `json:"state"`
	Zone     string       `json:"zone,omitempty"`
}

type liveJSON struct {
	HasQuorum    bool              `json:"has_quorum"`
	Message      string            `json:"message,omitempty"`
	Managers     []liveManagerJSON `json:"managers"`
	Quorum       int               `json:"quorum"`
	Tolerance    int               `json:"tolerance"`
	Up           int               `json:"up"`
	Down         int               `json:"down"`
	FailuresLeft int               `json:"failures_left"`
	P            *float64          `json:"p,omitempty"`
	Loss         *probJSON         `json:"loss,omitempty"`
	ZoneLabel    string            `json:"zone_label,omitempty"`
	Zones        map[string]int    `json:"zones_up,omitempty"`
	ZoneP        *float64          `json:"zone_p,omitempty"`
	ZoneLoss     *probJSON         `json:"loss_with_zones,omitempty"`
	Warnings     []string          `json:"warnings"`
	Notes        []string          `json:"notes,omitempty"`
	Target       engineJSON        `json:"target"`
}

// liveReport is what live mode shows, computed before it is written.
type liveReport struct {
	st         quorum.Status
	p          float64
	pDesc      string
	pGiven     bool
	loss       quorum.Prob
	label      string
	zones      map[string]int
	zoneNames  []string
	zoneP      float64
	zoneLoss   quorum.Prob
	zoneLossOK bool
	warnings   []string
	notes      []string   // what the state means, where it is a choice, not a problem
	target     engineJSON // the engine that was read, for JSON
}

// oneManagerNote says what a one-manager swarm means: a normal choice for a
// small team, with its one trade-off.
const oneManagerNote = "one manager: the swarm runs and can be changed while it is up; while it is down, services keep running but nothing can be changed; three managers tolerate one failure"

// runQuorumLive checks the swarm nodes reads and writes its status (its JSON
// names target, the engine read). A lost quorum is written too, and then
// fails the command (exit 1) with the error wrapping quorum.ErrNoQuorum.
func runQuorumLive(ctx context.Context, w io.Writer, o quorumOptions, p float64, pGiven bool, nodes quorum.NodeLister, target engineJSON) error {
	st, checkErr := quorum.Check(ctx, nodes)
	if checkErr != nil && !errors.Is(checkErr, quorum.ErrNoQuorum) {
		return checkErr
	}
	r := liveReport{st: st, p: p, pDesc: o.describeP(p), pGiven: pGiven, label: o.zoneLabel, zoneP: o.zoneP, target: target}
	if st.HasQuorum {
		if pGiven {
			r.loss = st.Loss(p)
		}
		switch {
		case len(st.Managers) == 1:
			r.notes = append(r.notes, oneManagerNote)
		case st.FailuresLeft == 0:
			r.warnings = append(r.warnings, fmt.Sprintf("no manager can fail without losing quorum (%d of %d up, quorum %d): add managers or bring the down ones back", st.Up, len(st.Managers), st.Quorum))
		}
		if o.zoneLabel != "" {
			spread, names, unlabelled := st.Zones(o.zoneLabel)
			if len(names) > 0 {
				r.zones, r.zoneNames = map[string]int{}, names
				for i, z := range names {
					r.zones[z] = spread[i]
				}
				switch {
				case len(unlabelled) > 0:
					r.warnings = append(r.warnings, fmt.Sprintf("managers without node label %q: %s; label them with `docker node update --label-add %s=ZONE NODE`", o.zoneLabel, strings.Join(unlabelled, ", "), o.zoneLabel))
				case o.zonePSet:
					r.zoneLoss, r.zoneLossOK = st.ZoneLoss(spread, p, o.zoneP), true
				}
				if st.FailuresLeft > 0 && maxUp(spread) > st.FailuresLeft {
					r.warnings = append(r.warnings, fmt.Sprintf("losing zone %q (%d managers up) loses quorum: spread the managers so that no zone holds more than %d of those up", largestZone(spread, names), maxUp(spread), st.FailuresLeft))
				}
			}
		}
	}
	if o.format == quorumFormatJSON {
		if err := writeJSON(w, r.json()); err != nil {
			return err
		}
	} else if err := r.write(w); err != nil {
		return err
	}
	if checkErr != nil {
		return exit.With(exit.Failure, checkErr)
	}
	return nil
}

func maxUp(spread quorum.Spread) int {
	m := 0
	for _, c := range spread {
		m = max(m, c)
	}
	return m
}

func largestZone(spread quorum.Spread, names []string) string {
	best := 0
	for i, c := range spread {
		if c > spread[best] {
			best = i
		}
	}
	return names[best]
}

func (r liveReport) zoneOf(m quorum.Manager) string {
	if r.label == "" {
		return ""
	}
	return m.Labels[r.label]
}

func (r liveReport) json() liveJSON {
	out := liveJSON{
		HasQuorum: r.st.HasQuorum, Message: r.st.Message, Managers: []liveManagerJSON{},
		Quorum: r.st.Quorum, Tolerance: r.st.Tolerance, Up: r.st.Up, Down: r.st.Down,
		FailuresLeft: r.st.FailuresLeft, Warnings: append([]string{}, r.warnings...), Notes: r.notes,
		Target: r.target,
	}
	for _, m := range r.st.Managers {
		out.Managers = append(out.Managers, liveManagerJSON{ID: m.ID, Hostname: m.Hostname, Addr: m.Addr, State: m.State, Zone: r.zoneOf(m)})
	}
	if r.st.HasQuorum && r.pGiven {
		p, loss := r.p, toProbJSON(r.loss)
		out.P, out.Loss = &p, &loss
	}
	if r.zones != nil {
		out.ZoneLabel, out.Zones = r.label, r.zones
	}
	if r.zoneLossOK {
		q, loss := r.zoneP, toProbJSON(r.zoneLoss)
		out.ZoneP, out.ZoneLoss = &q, &loss
	}
	return out
}

func (r liveReport) write(w io.Writer) error {
	if !r.st.HasQuorum && len(r.st.Managers) == 0 {
		_, err := fmt.Fprintf(w, "quorum LOST: the swarm has no leader (%s).\nExisting replicas keep serving, but nothing can be created, changed or removed until enough managers are back.\n", r.st.Message)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tID\tADDRESS\tSTATE\tZONE")
	for _, m := range r.st.Managers {
		id := m.ID
		if len(id) > 12 {
			id = id[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Hostname, id, m.Addr, m.State, dashIfEmpty(r.zoneOf(m)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	k := newQuorumKV(w)
	k.line("managers", "%d", len(r.st.Managers))
	k.line("quorum", "%d", r.st.Quorum)
	k.line("up", "%d", r.st.Up)
	if !r.st.HasQuorum {
		k.line("quorum lost", "%d managers are down and %d of %d must be up", r.st.Down, r.st.Quorum, len(r.st.Managers))
	} else {
		k.line("failures left", "%d", r.st.FailuresLeft)
		if r.pGiven {
			k.line("loss probability", "%s  (node down probability %s)", r.loss, r.pDesc)
		}
	}
	if r.zones != nil {
		parts := make([]string, len(r.zoneNames))
		for i, z := range r.zoneNames {
			parts[i] = fmt.Sprintf("%s=%d", z, r.zones[z])
		}
		k.line(fmt.Sprintf("up per zone (label %q)", r.label), "%s", strings.Join(parts, " "))
	}
	if r.zoneLossOK {
		k.line("loss with zones", "%s  (zone down probability %s)", r.zoneLoss, fmtProb(r.zoneP))
	}
	if err := k.flush(); err != nil {
		return err
	}
	for _, wn := range r.warnings {
		if _, err := fmt.Fprintf(w, "warning: %s\n", wn); err != nil {
			return err
		}
	}
	for _, n := range r.notes {
		if _, err := fmt.Fprintf(w, "note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
