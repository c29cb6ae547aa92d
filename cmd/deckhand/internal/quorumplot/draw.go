package quorumplot

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/deckhand/deckhand/quorum"
)

// Format is a file format the plot is written in.
type Format string

// The formats Write knows.
const (
	SVG Format = "svg"
	PNG Format = "png"
)

// The picture's geometry: each panel is one row, its legend on the right.
const (
	width       = 9 * vg.Inch
	panelHeight = 4.6 * vg.Inch
	legendWidth = 2.9 * vg.Inch
	pngDPI      = 144
)

// palette tells the curves apart (Okabe and Ito's colours, safe for
// colour-blind readers).
var palette = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xFF}, {0xD5, 0x5E, 0x00, 0xFF}, {0x00, 0x9E, 0x73, 0xFF},
	{0xCC, 0x79, 0xA7, 0xFF}, {0xE6, 0x9F, 0x00, 0xFF}, {0x56, 0xB4, 0xE9, 0xFF},
}

var (
	black     = color.RGBA{0x1B, 0x1F, 0x24, 0xFF}
	targetRed = color.RGBA{0xB0, 0x00, 0x20, 0xFF}
	gridGray  = color.RGBA{0xDD, 0xDD, 0xDD, 0xFF}
	sans      = font.Font{Typeface: "Liberation", Variant: "Sans"}
)

// Line styles: the exact value solid, the estimate dashed, the value
// without zone failures dotted, the target dash-dotted.
var (
	exactDashes    []vg.Length
	estimateDashes = []vg.Length{vg.Points(5), vg.Points(3)}
	noZoneDashes   = []vg.Length{vg.Points(1), vg.Points(2.5)}
	targetDashes   = []vg.Length{vg.Points(7), vg.Points(3), vg.Points(1.5), vg.Points(3)}
)

// Write draws f in format to w. SVG output is byte-stable: the same
// figure always gives the same bytes.
func (f Figure) Write(w io.Writer, format Format) error {
	height := panelHeight * vg.Length(len(f.charts()))
	var c vg.CanvasWriterTo
	switch format {
	case SVG:
		c = vgsvg.New(width, height)
	case PNG:
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(pngDPI))}
	default:
		return fmt.Errorf("plot format %q is not supported: use svg or png", format)
	}
	f.draw(draw.New(c))
	if format != SVG {
		_, err := c.WriteTo(w)
		return err
	}
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return err
	}
	// Liberation Sans is metric-compatible with Arial: viewers without it
	// keep the layout with the fallbacks.
	out := bytes.ReplaceAll(b.Bytes(), []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	_, err := w.Write(out)
	return err
}

// chart is one panel: a plot and its legend.
type chart struct {
	plot   *plot.Plot
	legend plot.Legend
}

// drawn is a chart and the canvas its plot was drawn on.
type drawn struct {
	chart
	area draw.Canvas
}

// draw lays the panels out in rows on c and draws them.
func (f Figure) draw(c draw.Canvas) []drawn {
	charts := f.charts()
	plots := make([][]*plot.Plot, len(charts))
	for i, ch := range charts {
		plots[i] = []*plot.Plot{ch.plot}
	}
	c.SetColor(color.White)
	c.Fill(c.Rectangle.Path())
	tiles := draw.Tiles{Rows: len(charts), Cols: 1, PadTop: vg.Points(10), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadY: vg.Points(24)}
	areas := plot.Align(plots, tiles, draw.Crop(c, 0, -legendWidth, 0, 0))
	var out []drawn
	for i, ch := range charts {
		area := areas[i][0]
		ch.plot.Draw(area)
		data := ch.plot.DataCanvas(area)
		legend := data
		legend.Min.X, legend.Max.X = c.Max.X-legendWidth+vg.Points(14), c.Max.X-vg.Points(6)
		ch.legend.Draw(legend)
		out = append(out, drawn{chart: ch, area: area})
	}
	return out
}

// charts builds the panels: the manager counts, then the zones.
func (f Figure) charts() []chart {
	out := []chart{f.countsChart()}
	if f.Zones != nil {
		out = append(out, f.zonesChart())
	}
	return out
}

func (f Figure) countsChart() chart {
	p := f.newPlot("Probability that a swarm of N managers loses quorum")
	l := newLegend()
	for i, c := range f.Curves {
		col := palette[i]
		exact := f.line(c, func(pt Point) quorum.Prob { return pt.Exact }, col, 1.6, exactDashes)
		estimate := f.line(c, func(pt Point) quorum.Prob { return pt.Estimate }, col, 1.1, estimateDashes)
		p.Add(estimate, exact, f.oddMarks(c, func(pt Point) quorum.Prob { return pt.Exact }, col))
		l.Add(c.Label, exact)
	}
	l.Add("exact probability", sampleLine(exactDashes, 1.6))
	l.Add("estimate C(N,K+1)·p^(K+1)", sampleLine(estimateDashes, 1.1))
	l.Add("odd N (an even N adds no tolerance)", marks(black, plotter.XYs{{}}))
	f.addTarget(p, &l)
	f.setRanges(p)
	return chart{plot: p, legend: l}
}

func (f Figure) zonesChart() chart {
	z := f.Zones
	p := f.newPlot(fmt.Sprintf("Spread at best over %d zones, each zone down with probability %s", z.Count, strconv.FormatFloat(z.P, 'g', -1, 64)))
	l := newLegend()
	seen := map[int]string{} // spread label already written at a count
	for i, c := range f.Curves {
		col := palette[i]
		zoned := f.line(c, func(pt Point) quorum.Prob { return pt.Best.Exact }, col, 1.6, exactDashes)
		noZone := f.line(c, func(pt Point) quorum.Prob { return pt.Exact }, col, 1.1, noZoneDashes)
		p.Add(noZone, zoned, f.oddMarks(c, func(pt Point) quorum.Prob { return pt.Best.Exact }, col))
		if lb := f.spreadLabels(c, seen); lb != nil {
			p.Add(lb)
		}
		l.Add(c.Label, zoned)
	}
	l.Add("exact with zone failures", sampleLine(exactDashes, 1.6))
	l.Add("without zone failures (upper panel)", sampleLine(noZoneDashes, 1.1))
	l.Add("odd N, with its best spread", marks(black, plotter.XYs{{}}))
	if z.Given != nil {
		var xys plotter.XYs
		for _, c := range f.Curves {
			xys = append(xys, plotter.XY{X: float64(c.Given.Managers), Y: c.Given.Exact.Log10()})
		}
		given := marks(black, xys)
		given.GlyphStyle = draw.GlyphStyle{Color: black, Radius: vg.Points(5.5), Shape: draw.RingGlyph{}}
		p.Add(given)
		l.Add("spread "+z.Given.String()+" as given", given)
	}
	f.addTarget(p, &l)
	f.setRanges(p)
	return chart{plot: p, legend: l}
}

// newPlot is a plot with deckhand's fonts, axes and grid.
func (f Figure) newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "managers N (they tolerate K = (N−1)/2 failures, rounded down)"
	p.Y.Label.Text = "probability of losing quorum (log scale)"
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label} {
		s.Font.Typeface, s.Font.Variant = sans.Typeface, sans.Variant
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Tick.Marker = countTicks{}
	p.Y.Tick.Marker = decadeTicks{}
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = gridGray, gridGray
	g.Vertical.Width, g.Horizontal.Width = vg.Points(0.5), vg.Points(0.5)
	p.Add(g)
	return p
}

// newLegend is a legend in deckhand's font, entries from the top left.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font.Typeface, l.TextStyle.Font.Variant = sans.Typeface, sans.Variant
	l.TextStyle.Font.Size = vg.Points(9)
	l.Top, l.Left = true, true
	l.ThumbnailWidth = vg.Points(26)
	l.Padding = vg.Points(2.5)
	return l
}

// line is one value of every point of c, as log10 of the probability.
func (f Figure) line(c Curve, value func(Point) quorum.Prob, col color.Color, width float64, dashes []vg.Length) *plotter.Line {
	xys := make(plotter.XYs, len(c.Points))
	for i, pt := range c.Points {
		xys[i] = plotter.XY{X: float64(pt.Managers), Y: value(pt).Log10()}
	}
	l, err := plotter.NewLine(xys)
	if err != nil { // only for NaN or infinite values, which Build refuses
		panic(fmt.Sprintf("quorumplot: %v", err))
	}
	l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(width), Dashes: dashes}
	return l
}

// oddMarks marks value at every odd manager count of c.
func (f Figure) oddMarks(c Curve, value func(Point) quorum.Prob, col color.Color) *plotter.Scatter {
	var xys plotter.XYs
	for _, pt := range c.Points {
		if pt.Managers%2 == 1 {
			xys = append(xys, plotter.XY{X: float64(pt.Managers), Y: value(pt).Log10()})
		}
	}
	return marks(col, xys)
}

// marks is a filled circle at every point.
func marks(col color.Color, xys plotter.XYs) *plotter.Scatter {
	s, err := plotter.NewScatter(xys)
	if err != nil {
		panic(fmt.Sprintf("quorumplot: %v", err))
	}
	s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.7), Shape: draw.CircleGlyph{}}
	return s
}

// sampleLine is a legend sample of a line style, in black.
func sampleLine(dashes []vg.Length, width float64) *plotter.Line {
	l, _ := plotter.NewLine(plotter.XYs{{}})
	l.LineStyle = draw.LineStyle{Color: black, Width: vg.Points(width), Dashes: dashes}
	return l
}

// spreadLabels writes the best spread above c's odd counts, where no
// earlier curve wrote the same spread.
func (f Figure) spreadLabels(c Curve, seen map[int]string) *plotter.Labels {
	var d plotter.XYLabels
	for _, pt := range c.Points {
		s := pt.Best.Spread.String()
		if pt.Managers%2 == 0 || seen[pt.Managers] == s {
			continue
		}
		seen[pt.Managers] = s
		d.XYs = append(d.XYs, plotter.XY{X: float64(pt.Managers), Y: pt.Best.Exact.Log10()})
		d.Labels = append(d.Labels, s)
	}
	if len(d.Labels) == 0 {
		return nil
	}
	lb, err := plotter.NewLabels(d)
	if err != nil {
		panic(fmt.Sprintf("quorumplot: %v", err))
	}
	for i := range lb.TextStyle {
		lb.TextStyle[i].Font = font.From(sans, vg.Points(8))
		lb.TextStyle[i].Color = black
		lb.TextStyle[i].XAlign = draw.XCenter
	}
	lb.Offset = vg.Point{Y: vg.Points(5)}
	return lb
}

// addTarget draws the target line across the plot, when there is one.
func (f Figure) addTarget(p *plot.Plot, l *plot.Legend) {
	if f.Target == 0 {
		return
	}
	y := math.Log10(f.Target)
	t, _ := plotter.NewLine(plotter.XYs{{X: f.xMin(), Y: y}, {X: f.xMax(), Y: y}})
	t.LineStyle = draw.LineStyle{Color: targetRed, Width: vg.Points(1.3), Dashes: targetDashes}
	p.Add(t)
	l.Add("target "+probLabel(f.Target), t)
}

func (f Figure) xMin() float64 { return float64(f.From) - 0.4 }

func (f Figure) xMax() float64 { return float64(f.To) + 0.4 }

// setRanges fits the axes to whole decades around every value plotted.
func (f Figure) setRanges(p *plot.Plot) {
	p.X.Min, p.X.Max = f.xMin(), f.xMax()
	p.Y.Min, p.Y.Max = math.Floor(p.Y.Min), math.Ceil(p.Y.Max)
	if p.Y.Min == p.Y.Max {
		p.Y.Min--
	}
}

// countTicks marks every manager count, or every few when there are many.
type countTicks struct{}

// Ticks implements plot.Ticker.
func (countTicks) Ticks(min, max float64) []plot.Tick {
	lo, hi := int(math.Ceil(min)), int(math.Floor(max))
	step := max1((hi - lo + 1) / 20)
	var out []plot.Tick
	for n := lo; n <= hi; n++ {
		t := plot.Tick{Value: float64(n)}
		if (n-lo)%step == 0 {
			t.Label = strconv.Itoa(n)
		}
		out = append(out, t)
	}
	return out
}

// decadeTicks marks every power of ten, labelling at most about ten.
type decadeTicks struct{}

// Ticks implements plot.Ticker.
func (decadeTicks) Ticks(min, max float64) []plot.Tick {
	lo, hi := int(math.Ceil(min)), int(math.Floor(max))
	step := max1((hi - lo + 9) / 10)
	var out []plot.Tick
	for e := hi; e >= lo; e-- {
		t := plot.Tick{Value: float64(e)}
		if (hi-e)%step == 0 {
			t.Label = probLabel(math.Pow(10, float64(e)))
		}
		out = append(out, t)
	}
	return out
}

func max1(n int) int { return max(n, 1) }

// probLabel writes a probability as a person reads it: 0.05 or 0.001 down
// to a thousandth, then 1e-6 or 2.5e-7.
func probLabel(v float64) string {
	if v >= 1e-3 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(v, 'e', 2, 64), "e")
	mant = strings.TrimSuffix(strings.TrimRight(mant, "0"), ".")
	e, _ := strconv.Atoi(exp)
	return mant + "e" + strconv.Itoa(e)
}
