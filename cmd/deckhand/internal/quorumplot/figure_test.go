package quorumplot

import (
	"bytes"
	"image/png"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/deckhand/deckhand/quorum"
)

// zonedInput has every part a plot can have.
func zonedInput() Input {
	return Input{From: 1, To: 9, Target: 1e-6,
		Nodes: []NodeP{{P: 0.001, Label: "p = 0.001"}, {P: 0.01, Label: "p = 0.01"}, {P: 0.05, Label: "p = 0.05"}},
		Zones: &Zones{Count: 3, P: 0.001, Given: quorum.Spread{2, 2, 1}}}
}

// pathRE finds the points of a polyline in gonum's SVG: M x,y L x,y ...
var pathRE = regexp.MustCompile(`<path d="(M[-0-9.,L]+)"`)

// polylines are the vertices of every open polyline in svg.
func polylines(t *testing.T, svg []byte) [][]vg.Point {
	t.Helper()
	var out [][]vg.Point
	for _, m := range pathRE.FindAllSubmatch(svg, -1) {
		var line []vg.Point
		for _, xy := range strings.FieldsFunc(string(m[1]), func(r rune) bool { return r == 'M' || r == 'L' }) {
			x, y, _ := strings.Cut(xy, ",")
			fx, errX := strconv.ParseFloat(x, 64)
			fy, errY := strconv.ParseFloat(y, 64)
			if errX != nil || errY != nil {
				t.Fatalf("path point %q: %v %v", xy, errX, errY)
			}
			line = append(line, vg.Point{X: vg.Length(fx), Y: vg.Length(fy)})
		}
		out = append(out, line)
	}
	return out
}

// TestPlottedPointsAreTheComputedProbabilities reads the lines back out of
// the SVG and checks that every vertex sits where quorum's own functions
// (Exact, Estimate, BestSpread: the table's) put it, to the SVG's 0.01 pt.
func TestPlottedPointsAreTheComputedProbabilities(t *testing.T) {
	in := zonedInput()
	fig, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	c := vgsvg.New(width, 2*panelHeight)
	panels := fig.draw(draw.New(c))
	var svg bytes.Buffer
	if _, err := c.WriteTo(&svg); err != nil {
		t.Fatal(err)
	}
	lines := polylines(t, svg.Bytes())

	type series struct {
		panel int
		name  string
		prob  func(n int, p float64) quorum.Prob
	}
	best := func(n int, p float64) quorum.Prob {
		z, err := quorum.BestSpread(n, in.Zones.Count, p, in.Zones.P)
		if err != nil {
			t.Fatal(err)
		}
		return z.Exact
	}
	all := []series{
		{0, "exact", quorum.Exact}, {0, "estimate", quorum.Estimate},
		{1, "exact with zones", best}, {1, "exact without zone failures", quorum.Exact},
	}
	for _, s := range all {
		data := panels[s.panel].plot.DataCanvas(panels[s.panel].area)
		fx, fy := panels[s.panel].plot.Transforms(&data)
		for _, node := range in.Nodes {
			var want []vg.Point
			for n := in.From; n <= in.To; n++ {
				want = append(want, vg.Point{X: fx(float64(n)), Y: fy(s.prob(n, node.P).Log10())})
			}
			if !containsLine(lines, want) {
				t.Errorf("panel %d: no line of %s at p = %v through %v", s.panel, s.name, node.P, want)
			}
		}
	}
	if len(lines) < 4*len(in.Nodes) {
		t.Fatalf("found %d polylines in the SVG: the parser is off", len(lines))
	}
}

func containsLine(lines [][]vg.Point, want []vg.Point) bool {
	for _, l := range lines {
		if len(l) != len(want) {
			continue
		}
		same := true
		for i := range l {
			if math.Abs(float64(l[i].X-want[i].X)) > 0.01 || math.Abs(float64(l[i].Y-want[i].Y)) > 0.01 {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// TestBuildUsesTheTablesFunctions: the figure holds exactly what
// quorum.Analyze, BestSpread and AnalyzeZones compute.
func TestBuildUsesTheTablesFunctions(t *testing.T) {
	in := zonedInput()
	fig, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range fig.Curves {
		if len(c.Points) != in.To-in.From+1 {
			t.Fatalf("curve %d: %d points", i, len(c.Points))
		}
		for _, pt := range c.Points {
			a, _ := quorum.Analyze(pt.Managers, c.P)
			b, _ := quorum.BestSpread(pt.Managers, 3, c.P, 0.001)
			if pt.Analysis != a || pt.Best.Exact != b.Exact || pt.Best.Spread.String() != b.Spread.String() {
				t.Errorf("p = %v, N = %d: %+v / %+v, want %+v / %+v", c.P, pt.Managers, pt.Analysis, pt.Best, a, b)
			}
		}
		g, _ := quorum.AnalyzeZones(quorum.Spread{2, 2, 1}, c.P, 0.001)
		if c.Given.Exact != g.Exact {
			t.Errorf("given spread at p = %v: %v, want %v", c.P, c.Given.Exact, g.Exact)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	ok := Input{From: 1, To: 9, Nodes: []NodeP{{P: 0.01}}}
	for name, tt := range map[string]struct {
		edit func(*Input)
		want string
	}{
		"empty range":   {func(in *Input) { in.From, in.To = 5, 3 }, "manager range 5-3 is empty"},
		"no curve":      {func(in *Input) { in.Nodes = nil }, "0 node probabilities"},
		"p zero":        {func(in *Input) { in.Nodes[0].P = 0 }, "no place on a log scale"},
		"p above 1":     {func(in *Input) { in.Nodes[0].P = 2 }, "is not a probability"},
		"bad target":    {func(in *Input) { in.Target = 1 }, "must be a probability above 0 and below 1"},
		"given outside": {func(in *Input) { in.Zones = &Zones{Count: 2, Given: quorum.Spread{6, 5}} }, "spread 6-5 has 11 managers, outside the plotted 1-9"},
	} {
		in := ok
		in.Nodes = append([]NodeP(nil), ok.Nodes...)
		tt.edit(&in)
		if _, err := Build(in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", name, err, tt.want)
		}
	}
}

func TestWriteSVGIsStableAndPNGDecodes(t *testing.T) {
	fig, err := Build(zonedInput())
	if err != nil {
		t.Fatal(err)
	}
	var a, b, p bytes.Buffer
	if err := fig.Write(&a, SVG); err != nil {
		t.Fatal(err)
	}
	if err := fig.Write(&b, SVG); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("two SVGs of one figure differ (%v)", err)
	}
	if err := fig.Write(&p, PNG); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&p)
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	if got := img.Bounds().Dx(); got != int(float64(width/vg.Inch)*pngDPI) {
		t.Errorf("PNG is %d pixels wide, want %d", got, int(float64(width/vg.Inch)*pngDPI))
	}
	if err := fig.Write(&p, "pdf"); err == nil {
		t.Error("an unknown format must be an error")
	}
}

func TestTicks(t *testing.T) {
	var labels []string
	for _, tk := range (decadeTicks{}).Ticks(-13.2, -0.5) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got := strings.Join(labels, " "); got != "0.1 0.001 1e-5 1e-7 1e-9 1e-11 1e-13" {
		t.Errorf("decade labels %q", got)
	}
	for v, want := range map[float64]string{1: "1", 0.05: "0.05", 0.001: "0.001", 1e-6: "1e-6", 2.5e-7: "2.5e-7"} {
		if got := probLabel(v); got != want {
			t.Errorf("probLabel(%v) = %q, want %q", v, got, want)
		}
	}
	if n := len((countTicks{}).Ticks(0.6, 9.4)); n != 9 {
		t.Errorf("counts 1-9: %d ticks", n)
	}
}
