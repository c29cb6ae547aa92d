package stack

import (
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/interpolation"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/paths"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Interpolating a model the way compose-go does costs a match of every string
// leaf against every typed path of its table (93 patterns, each match
// splitting both paths): for a large stack, about 30 % of compose-go's load. Most
// leaves can neither change (no "$") nor be cast (no typed path), so deckhand
// decodes each file itself, finds the typed paths with a trie, hands
// compose-go's own interpolation only the leaves that can change and only
// the table entries they are on, writes the results back, and gives
// compose-go the interpolated model with interpolation turned into a no-op.

// castTable is compose-go's table of the paths whose values interpolation
// casts (ports, replicas, booleans, ...).
var castTable = sync.OnceValue(func() map[tree.Path]interpolation.Cast {
	return loader.ToOptions(&types.ConfigDetails{}, nil).Interpolate.TypeCastMapping
})

// castPaths is castTable's paths as a trie.
var castPaths = sync.OnceValue(func() *pathTrie {
	t := &pathTrie{}
	for p := range castTable() {
		t.add(p)
	}
	return t
})

// pathTrie is a set of compose-go path patterns; "*" matches any part.
type pathTrie struct {
	next    map[string]*pathTrie
	end     bool
	pattern tree.Path // the pattern that ends here
}

func (t *pathTrie) add(pattern tree.Path) {
	for _, p := range pattern.Parts() {
		if t.next == nil {
			t.next = map[string]*pathTrie{}
		}
		c := t.next[p]
		if c == nil {
			c = &pathTrie{}
			t.next[p] = c
		}
		t = c
	}
	t.end, t.pattern = true, pattern
}

// step returns the trie nodes reached from states by one path part, as
// tree.Path.Matches compares parts: equal, or "*" in the pattern.
func step(states []*pathTrie, part string) []*pathTrie {
	var out []*pathTrie
	for _, s := range states {
		if c := s.next[part]; c != nil {
			out = append(out, c)
		}
		if c := s.next[tree.PathMatchAll]; c != nil && part != tree.PathMatchAll {
			out = append(out, c)
		}
	}
	return out
}

// preparable reports whether every source can be handed to compose-go as an
// interpolated model. The rest keep compose-go's own reading: a file with
// several documents, include and extends (compose-go reads more files, which
// it must interpolate itself), and the !reset and !override tags (they live
// on YAML nodes, not in a decoded model).
func preparable(srcs []source) bool {
	for _, s := range srcs {
		top := documentMapping(s.root)
		if top == nil || s.multiDoc || mappingValue(top, "include") != nil {
			return false
		}
		if svcs := mappingValue(top, "services"); svcs != nil {
			if svcs.Kind != yaml.MappingNode {
				return false
			}
			for i := 1; i < len(svcs.Content); i += 2 {
				if mappingValue(svcs.Content[i], "extends") != nil {
					return false
				}
			}
		}
		// the node an alias names is in the tree too
		if findNode(s.root, func(n *yaml.Node) bool { return n.Tag == "!reset" || n.Tag == "!override" }) != nil {
			return false
		}
	}
	return true
}

// prepareModels decodes every source and interpolates it with compose-go's
// interpolation, applied to the string leaves that contain "$" or sit on a
// typed path. It returns ok=false when a source cannot be prepared (see
// preparable, and mappings with keys that are not strings).
func prepareModels(srcs []source, lookup Lookup) (models []map[string]any, ok bool, err error) {
	if !preparable(srcs) {
		return nil, false, nil
	}
	trie := castPaths()
	for _, s := range srcs {
		model, isMap := s.raw.(map[string]any)
		if !isMap {
			return nil, false, nil
		}
		w := sparseWalk{casts: map[tree.Path]interpolation.Cast{}}
		sparse, slots, keep := w.walk(model, []*pathTrie{trie})
		if w.unsupported {
			return nil, false, nil
		}
		if keep {
			// Only the typed paths some leaf is on: compose-go matches
			// every leaf against every entry of the table it is given.
			out, err := interpolation.Interpolate(sparse.(map[string]any), interpolation.Options{
				LookupValue: interpolation.LookupValue(lookup), Substitute: substitute, TypeCastMapping: w.casts,
			})
			if err != nil {
				return nil, true, err
			}
			writeBack(out, slots)
		}
		models = append(models, model)
	}
	return models, true, nil
}

// substitute is compose's substitution without its log line per unset
// variable: deckhand reports those itself, with their positions.
func substitute(s string, m template.Mapping) (string, error) {
	return template.SubstituteWithOptions(s, m, template.WithoutLogging)
}

// noSubstitution is the interpolation compose-go runs on a prepared model:
// its values are final ("$$" already became "$").
func noSubstitution(s string, _ template.Mapping) (string, error) { return s, nil }

// sparseWalk builds, from a decoded model, the model of the string leaves
// interpolation can change (those with a "$" or on a typed path), beside it
// the slots they came from, and the casts of the typed paths they are on.
type sparseWalk struct {
	casts       map[tree.Path]interpolation.Cast
	unsupported bool
}

// slot is where a leaf of the model sits: a key of a mapping or an index of
// a sequence.
type slot struct {
	m map[string]any
	k string
	l []any
	i int
}

func (s slot) set(v any) {
	if s.m != nil {
		s.m[s.k] = v
	} else {
		s.l[s.i] = v
	}
}

// walk returns the sparse copy of v, a tree of the same shape holding the
// slots of its leaves, and whether anything below v is kept.
func (w *sparseWalk) walk(v any, states []*pathTrie) (sparse, slots any, keep bool) {
	switch v := v.(type) {
	case string:
		keep = strings.Contains(v, "$")
		for _, s := range states {
			if s.end {
				w.casts[s.pattern] = castTable()[s.pattern]
				keep = true
			}
		}
		if keep {
			return v, nil, true
		}
	case map[string]any:
		var sp, sl map[string]any
		for k, e := range v {
			s, l, ok := w.walk(e, step(states, k))
			if !ok {
				continue
			}
			if sp == nil {
				sp, sl = map[string]any{}, map[string]any{}
			}
			sp[k] = s
			if _, leaf := s.(string); leaf {
				l = slot{m: v, k: k}
			}
			sl[k] = l
		}
		return sp, sl, sp != nil
	case []any:
		var sp, sl []any
		next := step(states, tree.PathMatchList)
		for i, e := range v {
			s, l, ok := w.walk(e, next)
			if !ok {
				continue
			}
			if _, leaf := s.(string); leaf {
				l = slot{l: v, i: i}
			}
			sp, sl = append(sp, s), append(sl, l)
		}
		return sp, sl, sp != nil
	case map[any]any:
		w.unsupported = true // a key that is not a string: compose-go names it
	}
	return nil, nil, false
}

// writeBack stores the interpolated leaves of out in their slots.
func writeBack(out, slots any) {
	switch sl := slots.(type) {
	case map[string]any:
		m, _ := out.(map[string]any)
		for k, s := range sl {
			writeBack(m[k], s)
		}
	case []any:
		l, _ := out.([]any)
		for i, s := range sl {
			if i < len(l) {
				writeBack(l[i], s)
			}
		}
	case slot:
		sl.set(out)
	}
}

// pathKeys are the service keys under which compose-go resolves relative
// paths (a test checks the list against compose-go's resolver).
var pathKeys = []string{"build", "develop", "env_file", "extends", "label_file", "pre_start", "volumes"}

// resolvePaths makes the relative paths of a loaded model absolute with
// compose-go's resolver, handing it every top-level section whole but of each
// service only the keys that can hold a path: the resolver matches every
// node it walks against its table, and services are nearly all of a stack.
func resolvePaths(model map[string]any, dir string) error {
	sparse := make(map[string]any, len(model))
	for k, v := range model {
		sparse[k] = v
	}
	svcs, _ := model["services"].(map[string]any)
	sparseSvcs := make(map[string]any, len(svcs))
	for name, s := range svcs {
		svc, ok := s.(map[string]any)
		if !ok {
			sparseSvcs[name] = s
			continue
		}
		keep := map[string]any{}
		for _, k := range pathKeys {
			if v, ok := svc[k]; ok {
				keep[k] = v
			}
		}
		sparseSvcs[name] = keep
	}
	if svcs != nil {
		sparse["services"] = sparseSvcs
	}
	if err := paths.ResolveRelativePaths(sparse, dir, nil); err != nil {
		return err
	}
	for k, v := range sparse {
		if k != "services" {
			model[k] = v
		}
	}
	for name, s := range sparseSvcs {
		svc, ok := svcs[name].(map[string]any)
		if !ok {
			continue
		}
		for k, v := range s.(map[string]any) {
			svc[k] = v
		}
	}
	return nil
}
