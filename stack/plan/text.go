package plan

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the plan for people: one line per object written, the
// changed fields of each service update under it, env values redacted.
func (p *Plan) WriteText(w io.Writer) error {
	var create, update, remove int
	for _, c := range p.Changes {
		switch c.Action {
		case ActionCreate:
			create++
		case ActionUpdate:
			update++
		case ActionRemove:
			remove++
		}
	}
	if _, err := fmt.Fprintf(w, "Stack %s: %d to create, %d to update, %d to remove, %d service(s) unchanged\n",
		p.Stack, create, update, remove, len(p.Unchanged)); err != nil {
		return err
	}
	if err := WriteChanges(w, p.Changes); err != nil {
		return err
	}
	return WriteWaves(w, p.Waves)
}

// WriteWaves prints the order of service writes depends_on asks for, one
// wave a line with what it waits for; nothing when there are no waves.
func WriteWaves(w io.Writer, waves []Wave) error {
	if len(waves) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(w, "Services are written in %d wave(s) (depends_on):\n", len(waves)); err != nil {
		return err
	}
	for i, wave := range waves {
		line := fmt.Sprintf("  %d. %s", i+1, strings.Join(wave.Services, ", "))
		if len(wave.WaitFor) > 0 {
			gates := make([]string, len(wave.WaitFor))
			for j, g := range wave.WaitFor {
				gates[j] = g.Service + " " + string(g.Condition)
			}
			line += "  after " + strings.Join(gates, ", ")
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// WriteChanges prints changes one a line (+ create, ~ update, - remove),
// each with its changed fields under it.
func WriteChanges(w io.Writer, changes []Change) error {
	signs := map[Action]string{ActionCreate: "+", ActionUpdate: "~", ActionRemove: "-"}
	for _, c := range changes {
		if _, err := fmt.Fprintf(w, "  %s %s %s\n", signs[c.Action], c.Kind, c.Name); err != nil {
			return err
		}
		for _, d := range c.Diff {
			if _, err := fmt.Fprintf(w, "      %s: %s -> %s\n", d.Field, orNone(d.Old), orNone(d.New)); err != nil {
				return err
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
