// Package layers holds the test that keeps deckhand's imports running one
// way: cmd/deckhand → stack/deploy → stack/revision → stack/plan →
// stack/swarmspec → stack/compose (stack/record below revision and deploy),
// discovery → nginx, quorum beside them, and the internal helpers where
// they belong; and the files inside each package too (files_test.go).
package layers

import (
	"bufio"
	"bytes"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/deckhand/deckhand/"

// allowed lists, for every package of the module, the packages of the
// module it may import in its non-test files. A package missing here, or an
// import missing from its list, fails the test: a new edge is a decision to
// write down here, not an accident.
var allowed = map[string][]string{
	"cmd/deckhand": {"cmd/deckhand/internal/quorumplot", "discovery", "internal/exit", "internal/version", "nginx", "quorum",
		"stack/compose", "stack/deploy", "stack/plan", "stack/record", "stack/revision"},

	// The plot of `deckhand quorum --plot`: output, so below the command only.
	"cmd/deckhand/internal/quorumplot": {"quorum"},

	"stack/deploy":    {"quorum", "stack/compose", "stack/plan", "stack/record", "stack/revision", "stack/swarmspec"},
	"stack/revision":  {"stack/compose", "stack/plan", "stack/record"},
	"stack/record":    {},
	"stack/plan":      {"stack/compose", "stack/swarmspec"},
	"stack/swarmspec": {"stack/compose"},
	"stack/compose":   {},
	"nginx":           {"discovery"},
	"discovery":       {},
	"quorum":          {},
	"examples":        {},
	"examples/app":    {},
	// Test beds and helpers: for tests only (checked below).
	"internal/exit":            {},
	"internal/version":         {},
	"internal/golden":          {},
	"internal/testenv":         {},
	"internal/testenv/testsvc": {},
	"internal/testbed":         {"internal/testenv"},
	"internal/e2e":             {},
	"internal/layers":          {},
}

// testOnly are packages no production package may import.
var testOnly = []string{"internal/golden", "internal/testenv", "internal/testenv/testsvc", "internal/testbed"}

// imports returns each module package's module imports (non-test files).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	got := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, ok := strings.CutPrefix(fields[0], module)
		if !ok {
			t.Fatalf("go list names %q outside the module", fields[0])
		}
		got[pkg] = []string{}
		for _, imp := range fields[1:] {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				got[pkg] = append(got[pkg], rel)
			}
		}
	}
	return got
}

func TestImportsRunOneWay(t *testing.T) {
	got := imports(t)
	for _, pkg := range slices.Sorted(maps.Keys(got)) {
		may, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the layer table of internal/layers: add it with the packages it may import", pkg)
			continue
		}
		for _, imp := range got[pkg] {
			if !slices.Contains(may, imp) {
				t.Errorf("%s imports %s, which its layer may not; allowed: %v", pkg, imp, may)
			}
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(allowed)) {
		if _, ok := got[pkg]; !ok {
			t.Errorf("the layer table names %s, which no longer exists: remove it", pkg)
		}
	}
}

// TestTableHasNoCycle proves the table itself is a one-way order: following
// allowed imports from any package never comes back to it.
func TestTableHasNoCycle(t *testing.T) {
	var visit func(pkg string, path []string)
	visit = func(pkg string, path []string) {
		if slices.Contains(path, pkg) {
			t.Fatalf("the layer table allows a cycle: %s", strings.Join(append(path, pkg), " → "))
		}
		for _, imp := range allowed[pkg] {
			visit(imp, append(slices.Clone(path), pkg))
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(allowed)) {
		visit(pkg, nil)
	}
}

func TestTestHelpersStayInTests(t *testing.T) {
	for pkg, imps := range imports(t) {
		if slices.Contains(testOnly, pkg) || pkg == "internal/e2e" || pkg == "internal/layers" {
			continue
		}
		for _, imp := range imps {
			if slices.Contains(testOnly, imp) {
				t.Errorf("%s imports the test helper %s in a non-test file", pkg, imp)
			}
		}
	}
}
