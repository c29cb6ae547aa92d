package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParallelLoadMatchesSerial loads stacks big enough to be split, with an
// override file, shared anchors, variables and every kind of top-level
// resource, once in parallel groups and once in one piece: the rendered
// stacks must be byte-identical.
func TestParallelLoadMatchesSerial(t *testing.T) {
	dir := t.TempDir()
	var base, over strings.Builder
	base.WriteString("x-common: &common\n  environment:\n    LEVEL: ${LEVEL:-info}\n  deploy:\n    replicas: 2\nservices:\n")
	for i := range 150 {
		fmt.Fprintf(&base, "  s%03d:\n    <<: *common\n    image: ${REG}/s%03d:1\n", i, i)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&base, "    networks: [front]\n    configs: [conf]\n")
		case 1:
			fmt.Fprintf(&base, "    ports: [\"%d:80\"]\n    secrets: [tok]\n", 30000+i)
		}
	}
	base.WriteString("networks:\n  front:\n    driver: overlay\nconfigs:\n  conf:\n    content: hello\nsecrets:\n  tok:\n    environment: TOK\nvolumes:\n  data:\n")
	over.WriteString("services:\n")
	for i := 0; i < 150; i += 7 {
		fmt.Fprintf(&over, "  s%03d:\n    image: ${REG}/s%03d:2\n", i, i)
	}
	over.WriteString("  extra:\n    image: extra:1\n")
	for name, body := range map[string]string{"a.yml": base.String(), "b.yml": over.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	render := func(parallel int) string {
		old := loadParallelism
		loadParallelism = parallel
		defer func() { loadParallelism = old }()
		st, err := Load(t.Context(), Options{Name: "big", Files: []string{"a.yml", "b.yml"}, WorkingDir: dir,
			Environ: map[string]string{"REG": "r", "TOK": "t"}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := st.YAML()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	srcs := func() []source {
		o := Options{Files: []string{"a.yml", "b.yml"}}
		s, err := readSources(o, dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	if g := splitServices(srcs, 4); len(g) != 4 {
		t.Fatalf("a 151-service stack split into %d groups, want 4", len(g))
	}
	serial, parallel := render(1), render(4)
	if serial != parallel {
		t.Errorf("parallel load differs from serial load\n--- serial\n%.3000s\n--- parallel\n%.3000s", serial, parallel)
	}
	if !strings.Contains(serial, "image: r/s007:2") || !strings.Contains(serial, "LEVEL: info") {
		t.Errorf("override or anchor not applied:\n%.2000s", serial)
	}
}

// TestSplitServicesRefuses lists the stacks that must load in one piece.
func TestSplitServicesRefuses(t *testing.T) {
	many := func(extra string) string {
		var b strings.Builder
		b.WriteString(extra + "services:\n")
		for i := range 100 {
			fmt.Fprintf(&b, "  s%03d:\n    image: x\n", i)
		}
		return b.String()
	}
	cases := map[string]string{
		"small":          "services:\n  a:\n    image: x\n",
		"include":        many("include:\n  - other.yml\n"),
		"extends":        strings.Replace(many(""), "  s001:\n    image: x\n", "  s001:\n    extends: s000\n", 1),
		"service anchor": strings.Replace(many(""), "  s001:\n    image: x\n", "  s001:\n    image: &img x\n", 1),
	}
	for name, body := range cases {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		srcs, err := readSources(Options{Files: []string{"a.yml"}}, dir)
		if err != nil {
			t.Fatal(err)
		}
		if g := splitServices(srcs, 4); g != nil {
			t.Errorf("%s: split into %d groups, want one piece", name, len(g))
		}
	}
}
