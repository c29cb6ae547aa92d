package compose

import (
	"fmt"
	"strings"
)

// Ref is one variable reference inside a string value: $V, ${V} or ${V<op>arg}.
type Ref struct {
	Name   string // the variable's name
	Op     string // "", ":-", "-", ":?", "?", ":+" or "+"
	Arg    string // the default, alternative or error message, unexpanded
	Offset int    // byte offset of the '$' in the scanned string
	Len    int    // length of the whole reference in bytes
}

// Lookup returns a variable's value and whether it is set.
type Lookup func(name string) (string, bool)

// envLookup looks names up in an environment map.
func envLookup(env map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// Unresolved is a reference that cannot be substituted: the variable is unset
// and has no default, or a required (:? / ?) variable is unset or empty.
type Unresolved struct {
	Ref
	Required bool   // the reference was ${V:?msg} or ${V?msg}
	Message  string // the reference's own error message, if any
}

func isNameStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isNameChar(c byte) bool  { return isNameStart(c) || c >= '0' && c <= '9' }

// scanRefs lists the references in s in order, at nesting level zero (a
// reference inside another's default is found by scanning that Arg). An
// unterminated or malformed ${...} is an error naming the offset, as compose
// refuses it too.
func scanRefs(s string) ([]Ref, error) {
	var refs []Ref
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		switch c := s[i+1]; {
		case c == '$':
			i++ // "$$" is a literal "$"
		case isNameStart(c):
			j := i + 2
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			refs = append(refs, Ref{Name: s[i+1 : j], Offset: i, Len: j - i})
			i = j - 1
		case c == '{':
			r, err := scanBraced(s, i)
			if err != nil {
				return refs, err
			}
			refs = append(refs, r)
			i += r.Len - 1
		}
	}
	return refs, nil
}

// scanBraced reads the ${...} reference that starts at s[start] == '$'.
func scanBraced(s string, start int) (Ref, error) {
	j := start + 2
	for j < len(s) && isNameChar(s[j]) {
		j++
	}
	name := s[start+2 : j]
	if name == "" || !isNameStart(name[0]) {
		return Ref{}, fmt.Errorf("invalid variable reference at offset %d: a name must follow \"${\"", start)
	}
	r := Ref{Name: name, Offset: start}
	if j < len(s) && s[j] == '}' {
		r.Len = j + 1 - start
		return r, nil
	}
	for _, op := range []string{":-", ":?", ":+", "-", "?", "+"} {
		if strings.HasPrefix(s[j:], op) {
			r.Op = op
			break
		}
	}
	if r.Op == "" {
		return Ref{}, fmt.Errorf("invalid variable reference %q at offset %d: expected \"}\" or one of :- - :? ? :+ +", s[start:min(len(s), j+1)], start)
	}
	// The argument runs to the matching brace; nested ${...} count.
	depth := 1
	k := j + len(r.Op)
	for ; k < len(s); k++ {
		switch {
		case s[k] == '$' && k+1 < len(s) && s[k+1] == '$':
			k++
		case s[k] == '$' && k+1 < len(s) && s[k+1] == '{':
			depth++
			k++
		case s[k] == '}':
			depth--
		}
		if depth == 0 {
			break
		}
	}
	if depth != 0 {
		return Ref{}, fmt.Errorf("unterminated variable reference %q at offset %d: add the closing \"}\"", s[start:], start)
	}
	r.Arg = s[j+len(r.Op) : k]
	r.Len = k + 1 - start
	return r, nil
}

// unresolved evaluates s the way compose interpolates it and returns every
// reference that cannot be substituted, with offsets into s. Arguments of
// defaults are only evaluated when the default would be used, as compose does.
func unresolved(s string, lookup Lookup) ([]Unresolved, error) {
	refs, err := scanRefs(s)
	if err != nil {
		return nil, err
	}
	var out []Unresolved
	for _, r := range refs {
		v, set := lookup(r.Name)
		var nested string // an argument that would be expanded
		switch r.Op {
		case "":
			if !set {
				out = append(out, Unresolved{Ref: r})
			}
		case ":-":
			if !set || v == "" {
				nested = r.Arg
			}
		case "-":
			if !set {
				nested = r.Arg
			}
		case ":?":
			if !set || v == "" {
				out = append(out, Unresolved{Ref: r, Required: true, Message: r.Arg})
			}
		case "?":
			if !set {
				out = append(out, Unresolved{Ref: r, Required: true, Message: r.Arg})
			}
		case ":+":
			if set && v != "" {
				nested = r.Arg
			}
		case "+":
			if set {
				nested = r.Arg
			}
		}
		if nested == "" {
			continue
		}
		inner, err := unresolved(nested, lookup)
		if err != nil {
			return out, err
		}
		base := r.Offset + 2 + len(r.Name) + len(r.Op)
		for _, u := range inner {
			u.Offset += base
			out = append(out, u)
		}
	}
	return out, nil
}
