package compose

import (
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v4"
)

func TestUnresolved(t *testing.T) {
	env := map[string]string{"SET": "x", "EMPTY": ""}
	tests := []struct {
		in   string
		want []string // "NAME@offset" (+"!" when required)
	}{
		{"plain", nil},
		{"$SET ${SET}", nil},
		{"$UNSET", []string{"UNSET@0"}},
		{"a-${UNSET}-b", []string{"UNSET@2"}},
		{"$$UNSET", nil},                           // escaped: a literal "$UNSET"
		{"$$$UNSET", []string{"UNSET@2"}},          // "$$" then a reference
		{"${UNSET:-d}", nil},                       // default when unset
		{"${EMPTY:-d} ${EMPTY-d}", nil},            // "-" keeps the empty value
		{"${UNSET-${INNER}}", []string{"INNER@8"}}, // the default is expanded
		{"${SET-${INNER}}", nil},                   // ...only when used
		{"${UNSET:?need it}", []string{"UNSET@0!"}},
		{"${EMPTY:?need it}", []string{"EMPTY@0!"}},
		{"${EMPTY?need it}", nil},
		{"${UNSET?}", []string{"UNSET@0!"}},
		{"${SET:+$ALT}", []string{"ALT@7"}},
		{"${UNSET:+$ALT}", nil},
		{"${EMPTY+$ALT}", []string{"ALT@8"}},
		{"$1 $ $-", nil}, // not names
		{"${A_1}x$B_2", []string{"A_1@0", "B_2@7"}},
	}
	for _, tt := range tests {
		got, err := unresolved(tt.in, envLookup(env))
		if err != nil {
			t.Errorf("unresolved(%q): %v", tt.in, err)
			continue
		}
		var s []string
		for _, u := range got {
			r := u.Name + "@" + strconv.Itoa(u.Offset)
			if u.Required {
				r += "!"
			}
			s = append(s, r)
		}
		if strings.Join(s, ",") != strings.Join(tt.want, ",") {
			t.Errorf("unresolved(%q) = %v, want %v", tt.in, s, tt.want)
		}
	}
}

func TestScanRefsErrors(t *testing.T) {
	for _, in := range []string{"${", "${}", "${A", "${A:-x", "${1A}", "${A!}"} {
		if _, err := scanRefs(in); err == nil {
			t.Errorf("scanRefs(%q): no error", in)
		}
	}
}

func TestFindMissingPositions(t *testing.T) {
	src := "services:\n  web:\n    image: \"${REG}/app:${TAG}\"\n    environment:\n      - A=$A\n      - B=${B:-b}\n    command: >\n      run\n      --x=$X $X\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	got, err := findMissing("f.yml", []byte(src), &doc, envLookup(map[string]string{"TAG": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, m := range got {
		s = append(s, m.Position.String()+" "+m.Name)
	}
	want := []string{"f.yml:3:13 REG", "f.yml:5:11 A", "f.yml:9:11 X", "f.yml:9:14 X"}
	if strings.Join(s, "|") != strings.Join(want, "|") {
		t.Errorf("positions:\n got %v\nwant %v", s, want)
	}
}

// FuzzInterpolation checks the variable scanner against itself (every
// reference it reports points at "$NAME" or "${NAME" in the input) and
// against compose-go's substitution (a required variable it reports makes
// compose-go fail; an unset variable it reports is one compose-go looks up).
func FuzzInterpolation(f *testing.F) {
	for _, s := range []string{"$A", "${A}", "${A:-$B}", "${A-${B:-${C}}}", "$$A", "${A:?m}", "${A?}", "${A:+x$B}", "${A+${B}}", "x$", "${", "${A:-}", "$${A}", "${A:-a}b${B}"} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(5))
	}
	logrus.SetOutput(io.Discard) // compose-go warns about every unset variable
	f.Fuzz(func(t *testing.T, s string, mask uint8) {
		env := map[string]string{}
		for i, name := range []string{"A", "B", "C"} {
			switch (mask >> (2 * i)) & 3 {
			case 1:
				env[name] = ""
			case 2:
				env[name] = "v"
			}
		}
		us, err := unresolved(s, envLookup(env))
		if err != nil {
			return
		}
		looked := map[string]bool{}
		_, composeErr := template.SubstituteWithOptions(s, func(k string) (string, bool) {
			looked[k] = true
			v, ok := env[k]
			return v, ok
		}, template.WithoutLogging)
		for _, u := range us {
			head := s[u.Offset:]
			if !strings.HasPrefix(head, "$"+u.Name) && !strings.HasPrefix(head, "${"+u.Name) {
				t.Fatalf("%q: reference %s reported at offset %d, which holds %q", s, u.Name, u.Offset, head)
			}
			if u.Required && composeErr == nil {
				t.Fatalf("%q: %s is required and unset, but compose-go substituted it", s, u.Name)
			}
			if !u.Required && composeErr == nil && !looked[u.Name] {
				t.Fatalf("%q: %s reported unset, but compose-go never looked it up", s, u.Name)
			}
		}
	})
}
