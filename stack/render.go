package stack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"

	"go.yaml.in/yaml/v4"
)

// YAML renders the stack as a compose document: fully interpolated, swarm
// keys only, every network, volume, config and secret carrying its final
// name. Services keep their keys; swarm names them STACK_key. A literal "$"
// is written "$$", so the document loads back to the same stack. Secret
// content is never written.
func (s *Stack) YAML() ([]byte, error) {
	raw, err := marshalProject(s.Project)
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

// marshalProject is p.MarshalYAML, with the services of a large stack
// encoded in parallel chunks. Each chunk is encoded under a "services:" key,
// at the depth it has in the whole document, and the chunks follow the
// encoder's own order of the service keys, so the bytes are those of one
// encoding (a test holds it to that).
func marshalProject(p *types.Project) ([]byte, error) {
	parts := min(loadParallelism, len(p.Services)/minServicesPerGroup)
	if parts < 2 {
		return p.MarshalYAML()
	}
	shell := *p
	shell.Services = types.Services{}
	head, err := shell.MarshalYAML()
	if err != nil {
		return nil, err
	}
	const empty = "services: {}\n"
	at := bytes.Index(head, []byte("\n"+empty)) + 1
	if at == 0 && !bytes.HasPrefix(head, []byte(empty)) {
		return p.MarshalYAML() // not the layout this splices into
	}
	keys, err := encoderOrder(p.Services)
	if err != nil {
		return nil, err
	}
	chunks := make([][]byte, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for c := range parts {
		wg.Go(func() {
			part := types.Services{}
			for _, k := range keys[c*len(keys)/parts : (c+1)*len(keys)/parts] {
				part[k] = p.Services[k]
			}
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if errs[c] = enc.Encode(map[string]types.Services{"services": part}); errs[c] == nil {
				errs[c] = enc.Close()
			}
			chunks[c] = bytes.TrimPrefix(buf.Bytes(), []byte("services:\n"))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(make([]byte, 0, len(head)+parts*len(chunks[0])))
	out.Write(head[:at])
	out.WriteString("services:\n")
	for _, c := range chunks {
		out.Write(c)
	}
	out.Write(head[at+len(empty):])
	return out.Bytes(), nil
}

// encoderOrder returns the keys of services in the order the YAML encoder
// writes them (it sorts numbers within keys by value), found by encoding
// the keys alone.
func encoderOrder(services types.Services) ([]string, error) {
	keys := make(map[string]int, len(services))
	for k := range services {
		keys[k] = 0
	}
	var doc yaml.Node
	if err := doc.Encode(keys); err != nil {
		return nil, err
	}
	order := make([]string, 0, len(keys))
	for i := 0; i < len(doc.Content); i += 2 {
		order = append(order, doc.Content[i].Value)
	}
	if len(order) != len(keys) {
		return nil, fmt.Errorf("ordering %d service keys: got %d", len(keys), len(order))
	}
	return order, nil
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
