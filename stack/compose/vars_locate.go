package compose

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Position is a place in a compose file, 1-based like compilers print it.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p Position) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// MissingVar is a variable that is unset and has no default, where it is used.
type MissingVar struct {
	Position
	Name     string `json:"name"`
	Required bool   `json:"required,omitempty"` // ${V:?msg} or ${V?msg}
	Message  string `json:"message,omitempty"`
}

func (m MissingVar) String() string {
	switch {
	case m.Required && m.Message != "":
		return fmt.Sprintf("%s: required variable %s is not set: %s", m.Position, m.Name, m.Message)
	case m.Required:
		return fmt.Sprintf("%s: required variable %s is not set", m.Position, m.Name)
	}
	return fmt.Sprintf("%s: variable %s is not set and has no default", m.Position, m.Name)
}

// findMissing walks the YAML document of one compose file and returns every
// reference in a scalar value that cannot be substituted from lookup, with
// the reference's line and column in src. Keys are not interpolated by
// compose, so they are not scanned.
func findMissing(file string, src []byte, root *yaml.Node, lookup Lookup) ([]MissingVar, error) {
	lines := strings.Split(string(src), "\n")
	var out []MissingVar
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				if err := walk(c); err != nil {
					return err
				}
			}
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				if err := walk(n.Content[i]); err != nil {
					return err
				}
			}
		case yaml.ScalarNode:
			if !strings.Contains(n.Value, "$") {
				return nil
			}
			us, err := unresolved(n.Value, lookup)
			if err != nil {
				return fmt.Errorf("%s:%d:%d: %w", file, n.Line, n.Column, err)
			}
			from := position{line: n.Line, col: n.Column}
			for _, u := range us {
				text := n.Value[u.Offset : u.Offset+u.Len]
				if u.Op != "" || u.Len != len(u.Name)+1 {
					// the reference's head is enough to find it: "${NAME"
					text = n.Value[u.Offset : u.Offset+2+len(u.Name)]
				}
				at := locate(lines, from, text)
				from = position{line: at.line, col: at.col + 1}
				out = append(out, MissingVar{
					Position: Position{File: file, Line: at.line, Column: at.col},
					Name:     u.Name, Required: u.Required, Message: u.Message,
				})
			}
		case yaml.AliasNode:
			// the anchor's own node is scanned where it is defined
		}
		return nil
	}
	if err := walk(root); err != nil {
		return out, err
	}
	return out, nil
}

type position struct{ line, col int }

// locate finds text in lines at or after from (1-based). YAML quoting and
// folding can move a value's characters, so the search runs forward through
// the source; when the text is not found verbatim the value's own position
// stands in.
func locate(lines []string, from position, text string) position {
	for l := from.line; l >= 1 && l <= len(lines); l++ {
		line := lines[l-1]
		start := 0
		if l == from.line {
			start = min(max(from.col-1, 0), len(line))
		}
		if i := strings.Index(line[start:], text); i >= 0 {
			return position{line: l, col: start + i + 1}
		}
		if l > from.line+200 {
			break
		}
	}
	return from
}
