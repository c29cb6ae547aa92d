package stack

import (
	"encoding/json"
	"fmt"
	"io"
)

// WritePlan prints a plan for people: one line per object written, the
// changed fields of each service update under it, env values redacted.
func WritePlan(w io.Writer, p *Plan) error {
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
	for _, c := range p.Changes {
		sign := map[string]string{ActionCreate: "+", ActionUpdate: "~", ActionRemove: "-"}[c.Action]
		fmt.Fprintf(w, "  %s %s %s\n", sign, c.Kind, c.Name)
		for _, d := range c.Diff {
			fmt.Fprintf(w, "      %s: %s -> %s\n", d.Field, orNone(d.Old), orNone(d.New))
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

// WriteJSON writes v as indented JSON with a trailing newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
