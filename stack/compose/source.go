package compose

import (
	"strconv"

	"go.yaml.in/yaml/v4"
)

// source is one compose file as read.
type source struct {
	display string     // the name errors use: the path as given, or "stdin"
	path    string     // absolute path handed to compose-go
	data    []byte     // the file's bytes
	root    *yaml.Node // its first document, for positions
}

// nodeAt follows a path of mapping keys and sequence indexes and returns the
// key node of the last element (the value node for a sequence index).
func nodeAt(n *yaml.Node, path []string) *yaml.Node {
	var at *yaml.Node
	for _, p := range path {
		if n == nil {
			return nil
		}
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					at, next = n.Content[i], n.Content[i+1]
					break
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(p)
			if err != nil || idx < 0 || idx >= len(n.Content) {
				return nil
			}
			at, n = n.Content[idx], n.Content[idx]
		default:
			return nil
		}
	}
	return at
}
