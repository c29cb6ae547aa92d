package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/internal/golden"
)

// TestQuorumPlotGolden draws the plots the issue asks for (a table of
// three node probabilities, a target with MTBF/MTTR curves, a zone
// spread) through the command line; the SVGs and what the command prints
// are golden files under testdata/quorum-plot/. The README's picture is
// one of them (docs/quorum-plot.svg), so it shows what deckhand draws.
func TestQuorumPlotGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		args string
		svg  string // where the SVG's golden file is, or "" for none
	}{
		{"table", "--p 0.001,0.01,0.05", "testdata/quorum-plot/table.svg"},
		{"target", "--mtbf 500h,2000h --mttr 4h --target 1e-6 --plot-range 1-11", "testdata/quorum-plot/target.svg"},
		{"zones", "--p 0.001,0.01 --zones 2,2,1 --zone-p 0.001 --target 1e-6", "testdata/quorum-plot/zones.svg"},
		{"readme", "--p 0.001,0.01,0.05 --target 1e-6 --zone-count 3 --zone-p 0.001", "../../docs/quorum-plot.svg"},
		{"json", "--p 0.01 --zone-count 3 --plot-range 3-5 --format json", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, tt.name+".svg")
			args := append([]string{"deckhand", "quorum", "--plot", file}, strings.Fields(tt.args)...)
			var out, errw bytes.Buffer
			if code := newCLI(strings.NewReader(""), &out, &errw).run(args); code != 0 {
				t.Fatalf("exit %d: %s", code, errw.String())
			}
			stdout := "$ deckhand quorum --plot $DIR/" + tt.name + ".svg " + tt.args + "\n" + strings.ReplaceAll(out.String(), dir, "$DIR")
			golden.Assert(t, []byte(stdout), filepath.Join("testdata", "quorum-plot", tt.name+".txt"))
			if tt.svg == "" {
				return
			}
			svg, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, svg, tt.svg)
		})
	}
}

// TestQuorumPlotPNG writes a PNG when the file name asks for one.
func TestQuorumPlotPNG(t *testing.T) {
	file := filepath.Join(t.TempDir(), "q.png")
	var out, errw bytes.Buffer
	if code := newCLI(strings.NewReader(""), &out, &errw).run([]string{"deckhand", "quorum", "--plot", file, "--p", "0.01"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("%s is no PNG: %v", file, err)
	}
}
