package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"
)

// YAML renders the stack as a compose document: fully interpolated, swarm
// keys only, every network, volume, config and secret carrying its final
// name. Services keep their keys; swarm names them STACK_key. A literal "$"
// is written "$$", so the document loads back to the same stack. Secret
// content is never written.
func (s *Stack) YAML() ([]byte, error) {
	raw, err := s.Project.MarshalYAML()
	if err != nil {
		return nil, fmt.Errorf("render stack %q: %w", s.Name, err)
	}
	header := fmt.Sprintf("# stack %q rendered by deckhand: services deploy as %s_<service>\n\n", s.Name, s.Name)
	if !bytes.Contains(raw, []byte("$")) {
		return append([]byte(header), raw...), nil // nothing to escape
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("render stack %q: re-read: %w", s.Name, err)
	}
	escapeDollars(&doc)
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("render stack %q: %w", s.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// escapeDollars doubles every "$" in scalar values (not keys).
func escapeDollars(n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			escapeDollars(n.Content[i])
		}
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			escapeDollars(c)
		}
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "$") {
			n.Value = strings.ReplaceAll(n.Value, "$", "$$")
		}
	}
}

// JSON renders the stack as compose JSON, values as they will be deployed
// (no "$$" escaping), secret content never included.
func (s *Stack) JSON() ([]byte, error) {
	raw, err := s.Project.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("render stack %q: %w", s.Name, err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("render stack %q: %w", s.Name, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
