package nginx

import (
	"fmt"
	"strings"
)

// directive is one parsed nginx directive: its name, arguments and, for a
// block directive, its children.
type directive struct {
	name     string
	args     []string
	block    bool
	children []directive
}

// tokenize splits an nginx config into words, quoted strings and the
// punctuation '{', '}' and ';', dropping comments; enough of nginx's lexer to
// see the structure a config has.
func tokenize(src string) ([]string, error) {
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, string(c))
			i++
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated quote at byte %d", i)
			}
			toks = append(toks, src[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\n\r{};#\"'", rune(src[j])) {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			toks = append(toks, src[i:min(j, len(src))])
			i = j
		}
	}
	return toks, nil
}

// parseConfig turns tokens into a directive tree, failing on unbalanced
// braces or a directive without its ';'.
func parseConfig(src string) ([]directive, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	pos := 0
	var parse func(depth int) ([]directive, error)
	parse = func(depth int) ([]directive, error) {
		var out []directive
		for pos < len(toks) {
			if toks[pos] == "}" {
				if depth == 0 {
					return nil, fmt.Errorf("unexpected '}' at token %d", pos)
				}
				pos++
				return out, nil
			}
			d := directive{name: toks[pos]}
			if d.name == "{" || d.name == ";" {
				return nil, fmt.Errorf("unexpected %q at token %d", d.name, pos)
			}
			pos++
			for pos < len(toks) && toks[pos] != ";" && toks[pos] != "{" && toks[pos] != "}" {
				d.args = append(d.args, toks[pos])
				pos++
			}
			if pos >= len(toks) || toks[pos] == "}" {
				return nil, fmt.Errorf("directive %q is not terminated", d.name)
			}
			if toks[pos] == "{" {
				pos++
				d.block = true
				kids, err := parse(depth + 1)
				if err != nil {
					return nil, err
				}
				d.children = kids
			} else {
				pos++
			}
			out = append(out, d)
		}
		if depth > 0 {
			return nil, fmt.Errorf("missing '}'")
		}
		return out, nil
	}
	return parse(0)
}

// skeleton describes a config's structure without argument values: every
// directive's depth, name and argument count.
func skeleton(ds []directive) []string {
	var out []string
	var walk func([]directive, int)
	walk = func(ds []directive, depth int) {
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%d %s/%d block=%v", depth, d.name, len(d.args), d.block))
			walk(d.children, depth+1)
		}
	}
	walk(ds, 0)
	return out
}
