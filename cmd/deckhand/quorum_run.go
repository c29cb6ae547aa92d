package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/deckhand/deckhand/quorum"
)

// quorumTableManagers is how many manager counts --table shows: 1 to 9.
const quorumTableManagers = 9

// The output formats of `deckhand quorum`.
const (
	quorumFormatTable = "table"
	quorumFormatJSON  = "json"
)

// quorumFlags are the flags that give each input of the quorum math, for
// errors the user fixes on the command line.
var quorumFlags = map[quorum.Quantity]string{
	quorum.NodeDownP:    "--p",
	quorum.ZoneDownP:    "--zone-p",
	quorum.TargetP:      "--target",
	quorum.MTBF:         "--mtbf",
	quorum.MTTR:         "--mttr",
	quorum.ManagerCount: "--managers",
}

// quorumFlag is the flag that gives q, or q's own name.
func quorumFlag(q quorum.Quantity) string { return cmp.Or(quorumFlags[q], q.String()) }

// flagNamedError is an error whose text names flags where the error it
// wraps names quantities.
type flagNamedError struct {
	msg string
	err error
}

func (e *flagNamedError) Error() string { return e.msg }

func (e *flagNamedError) Unwrap() error { return e.err }

// quorumFlagError rewrites an error of the quorum math so that it names the
// flags the user gave instead of the quantities; other errors pass as they are.
func quorumFlagError(err error) error {
	var ne quorum.NamedError
	if !errors.As(err, &ne) {
		return err
	}
	return &flagNamedError{msg: strings.Replace(err.Error(), ne.Error(), ne.Message(quorumFlag), 1), err: err}
}

// offline reports whether the flags ask for math rather than a live check.
func (o quorumOptions) offline() bool {
	return o.managersSet || o.zonesSet || o.table || o.targetSet || o.plot != ""
}

// nodeP is one node failure probability and how a plot's legend names it.
type nodeP struct {
	p     float64
	label string
}

// nodeDownPs are the node probabilities from --p or from --mtbf and --mttr
// (every MTBF with every MTTR, in the order given); none when neither was
// given.
func (o quorumOptions) nodeDownPs() ([]nodeP, error) {
	if o.pSet && (o.mtbf != "" || o.mttr != "") {
		return nil, errors.New("--p and --mtbf/--mttr both give the node failure probability: use one or the other")
	}
	var out []nodeP
	if o.pSet {
		for _, p := range o.ps {
			if err := quorum.ValidateP(quorum.NodeDownP, p); err != nil {
				return nil, err
			}
			out = append(out, nodeP{p: p, label: "p = " + fmtProb(p)})
		}
		return out, nil
	}
	if o.mtbf == "" && o.mttr == "" {
		return nil, nil
	}
	if o.mtbf == "" || o.mttr == "" {
		return nil, errors.New("--mtbf and --mttr go together: give both, such as --mtbf 2000h --mttr 4h")
	}
	for _, mtbfText := range strings.Split(o.mtbf, ",") {
		mtbf, err := quorum.ParseDuration(strings.TrimSpace(mtbfText))
		if err != nil {
			return nil, fmt.Errorf("--mtbf: %w", err)
		}
		for _, mttrText := range strings.Split(o.mttr, ",") {
			mttr, err := quorum.ParseDuration(strings.TrimSpace(mttrText))
			if err != nil {
				return nil, fmt.Errorf("--mttr: %w", err)
			}
			p, err := quorum.FromMTBF(mtbf, mttr)
			if err != nil {
				return nil, err
			}
			label := fmt.Sprintf("MTBF %s, MTTR %s: p = %.4g", strings.TrimSpace(mtbfText), strings.TrimSpace(mttrText), p)
			out = append(out, nodeP{p: p, label: label})
		}
	}
	return out, nil
}

// nodeDownP is the one node probability of the text modes and the live
// check, and whether it was given.
func (o quorumOptions) nodeDownP() (float64, bool, error) {
	ps, err := o.nodeDownPs()
	switch {
	case err != nil:
		return 0, false, err
	case len(ps) == 0:
		return 0, false, nil
	case len(ps) > 1 && o.pSet:
		return 0, false, fmt.Errorf("--p lists %d probabilities and only --plot draws several: give one, such as --p 0.01", len(ps))
	case len(ps) > 1:
		return 0, false, fmt.Errorf("--mtbf and --mttr give %d probabilities and only --plot draws several: give one of each, such as --mtbf 2000h --mttr 4h", len(ps))
	}
	return ps[0].p, true, nil
}

// checkCombination refuses flags that ask for different things at once.
func (o quorumOptions) checkCombination() error {
	if o.plotRange != "" && o.plot == "" {
		return errors.New("--plot-range sets the counts --plot draws: add --plot FILE.svg or drop --plot-range")
	}
	if o.plot != "" {
		return o.checkPlotCombination()
	}
	if o.table && (o.managersSet || o.targetSet || o.zonesSet) {
		return errors.New("--table shows 1 to 9 managers: drop --managers, --target and --zones (--zone-count and --zone-p add a zone column)")
	}
	if o.targetSet && (o.managersSet || o.zonesSet) {
		return errors.New("--target finds the manager count: drop --managers and --zones (use --zone-count to size with zones)")
	}
	if o.zonesSet && o.zoneCount != 0 {
		return errors.New("--zones already sets the zones: drop --zone-count")
	}
	if o.zoneCount != 0 && !o.offline() {
		return errors.New("--zone-count needs --managers, --table or --target; live mode reads zones from --zone-label")
	}
	if o.offline() && o.zonePSet && o.zones == "" && o.zoneCount == 0 {
		return errors.New("--zone-p needs zones: give --zones (such as 2,2,1) or --zone-count")
	}
	return nil
}

// checkPlotCombination refuses flags that --plot cannot draw.
func (o quorumOptions) checkPlotCombination() error {
	switch {
	case o.managersSet:
		return errors.New("--plot draws a range of manager counts: drop --managers, and give --plot-range (such as 3-15) for other counts than 1-9")
	case o.table:
		return errors.New("--plot draws what --table lists: drop --table (--format json prints the plotted numbers)")
	case o.zonesSet && o.zoneCount != 0:
		return errors.New("--zones already sets the zones: drop --zone-count")
	case o.zonePSet && !o.zonesSet && o.zoneCount == 0:
		return errors.New("--zone-p needs zones: give --zones (such as 2,2,1) or --zone-count")
	}
	return nil
}

// probJSON is a probability for scripts: its value (0 when below
// float64's range) and its base-10 logarithm (null for 0), both to 12
// significant digits, about what the log-space arithmetic guarantees.
type probJSON struct {
	Value json.Number  `json:"value"`
	Log10 *json.Number `json:"log10"`
}

func toProbJSON(p quorum.Prob) probJSON {
	out := probJSON{Value: jsonNumber12(p.Float())}
	if !p.IsZero() {
		l := jsonNumber12(p.Log10())
		out.Log10 = &l
	}
	return out
}

// jsonNumber12 writes f with 12 significant digits.
func jsonNumber12(f float64) json.Number {
	return json.Number(strconv.FormatFloat(f, 'g', 12, 64))
}

// quorumKV writes aligned "name  value" lines.
type quorumKV struct{ tw *tabwriter.Writer }

func newQuorumKV(w io.Writer) quorumKV { return quorumKV{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)} }

func (k quorumKV) line(name string, format string, args ...any) {
	fmt.Fprintf(k.tw, "%s\t%s\n", name, fmt.Sprintf(format, args...))
}

func (k quorumKV) flush() error { return k.tw.Flush() }

func fmtProb(p float64) string { return fmt.Sprint(p) }

// describeP is the node probability, with its derivation when it comes
// from --mtbf and --mttr.
func (o quorumOptions) describeP(p float64) string {
	if o.pSet || o.mtbf == "" {
		return fmtProb(p)
	}
	return fmt.Sprintf("%.6g = MTTR %s / (MTBF %s + MTTR %s)", p, o.mttr, o.mtbf, o.mttr)
}

// evenNote explains that an even count adds no tolerance, or is "".
func evenNote(n int) string {
	if n%2 == 1 || n <= 0 {
		return ""
	}
	return fmt.Sprintf("note: %d managers tolerate %d failures, like %d: an even count adds no tolerance and one more node that can fail", n, quorum.Tolerance(n), n-1)
}

// dockerNote warns above Docker's advice of 7 managers, or is "".
func dockerNote(n int) string {
	if n <= quorum.DockerMaxManagers {
		return ""
	}
	return fmt.Sprintf("note: Docker advises at most %d managers: every write goes through the quorum, so more managers make the swarm slower", quorum.DockerMaxManagers)
}

func writeNotes(w io.Writer, notes ...string) error {
	for _, n := range notes {
		if n == "" {
			continue
		}
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}

// jsonNotes are the notes that are not "", without their "note: ".
func jsonNotes(ns ...string) []string {
	out := []string{}
	for _, n := range ns {
		if n != "" {
			out = append(out, strings.TrimPrefix(n, "note: "))
		}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

type managersJSON struct {
	Managers  int       `json:"managers"`
	Quorum    int       `json:"quorum"`
	Tolerance int       `json:"tolerance"`
	P         float64   `json:"p"`
	Estimate  probJSON  `json:"estimate_union_bound"`
	Exact     probJSON  `json:"exact"`
	Zones     *zoneJSON `json:"best_spread,omitempty"`
	Notes     []string  `json:"notes"`
}

type zoneJSON struct {
	Spread       []int    `json:"spread"`
	ZoneP        float64  `json:"zone_p"`
	Exact        probJSON `json:"exact"`
	SurvivesZone bool     `json:"survives_one_zone"`
}

// toZoneJSON is z for scripts, or nil for no z.
func toZoneJSON(z *quorum.ZoneAnalysis) *zoneJSON {
	if z == nil {
		return nil
	}
	return &zoneJSON{Spread: z.Spread, ZoneP: z.ZoneP, Exact: toProbJSON(z.Exact), SurvivesZone: z.SurvivesZone}
}

func runQuorumManagers(w io.Writer, o quorumOptions, p float64) error {
	a, err := quorum.Analyze(o.managers, p)
	if err != nil {
		return err
	}
	var best *quorum.ZoneAnalysis
	if o.zoneCount != 0 {
		z, err := quorum.BestSpread(o.managers, o.zoneCount, p, o.zoneP)
		if err != nil {
			return err
		}
		best = &z
	}
	even, docker := evenNote(a.Managers), dockerNote(a.Managers)
	if o.format == quorumFormatJSON {
		out := managersJSON{
			Managers: a.Managers, Quorum: a.Quorum, Tolerance: a.Tolerance, P: p,
			Estimate: toProbJSON(a.Estimate), Exact: toProbJSON(a.Exact), Zones: toZoneJSON(best), Notes: jsonNotes(even, docker),
		}
		return writeJSON(w, out)
	}
	k := newQuorumKV(w)
	k.line("managers", "%d", a.Managers)
	k.line("quorum", "%d", a.Quorum)
	k.line("failures tolerated", "%d", a.Tolerance)
	k.line("node down probability", "%s", o.describeP(p))
	k.line("estimate (union bound)", "%s  = C(%d,%d)·p^%d, never below exact", a.Estimate, a.Managers, a.Tolerance+1, a.Tolerance+1)
	k.line("exact", "%s", a.Exact)
	if best != nil {
		k.line(fmt.Sprintf("best spread over %d zones", o.zoneCount), "%s", best.Spread)
		k.line("zone down probability", "%s", fmtProb(o.zoneP))
		k.line("exact with zones", "%s", best.Exact)
		k.line("survives any one zone", "%s", yesNo(best.SurvivesZone))
	}
	if err := k.flush(); err != nil {
		return err
	}
	return writeNotes(w, even, docker)
}

type zonesJSON struct {
	Spread       []int     `json:"spread"`
	Managers     int       `json:"managers"`
	Quorum       int       `json:"quorum"`
	Tolerance    int       `json:"tolerance"`
	P            float64   `json:"p"`
	ZoneP        float64   `json:"zone_p"`
	SurvivesZone bool      `json:"survives_one_zone"`
	Exact        probJSON  `json:"exact"`
	NoZones      probJSON  `json:"exact_without_zone_failures"`
	Best         *zoneJSON `json:"best_spread,omitempty"`
	Notes        []string  `json:"notes"`
}

func runQuorumZones(w io.Writer, o quorumOptions, p float64) error {
	spread, err := quorum.ParseZones(o.zones)
	if err != nil {
		return fmt.Errorf("--zones: %w", err)
	}
	if o.managersSet && o.managers != spread.Managers() {
		return fmt.Errorf("--managers %d and --zones %s (%d managers) disagree: drop --managers or fix the spread", o.managers, o.zones, spread.Managers())
	}
	za, err := quorum.AnalyzeZones(spread, p, o.zoneP)
	if err != nil {
		return err
	}
	var best *quorum.ZoneAnalysis
	if za.Managers <= quorum.MaxSpreadManagers {
		b, err := quorum.BestSpread(za.Managers, len(spread), p, o.zoneP)
		if err != nil {
			return err
		}
		best = &b
	}
	even, docker := evenNote(za.Managers), dockerNote(za.Managers)
	noZones := quorum.Exact(za.Managers, p)
	if o.format == quorumFormatJSON {
		out := zonesJSON{
			Spread: za.Spread, Managers: za.Managers, Quorum: quorum.Size(za.Managers), Tolerance: za.Tolerance,
			P: p, ZoneP: o.zoneP, SurvivesZone: za.SurvivesZone, Exact: toProbJSON(za.Exact),
			NoZones: toProbJSON(noZones), Best: toZoneJSON(best), Notes: jsonNotes(even, docker),
		}
		return writeJSON(w, out)
	}
	k := newQuorumKV(w)
	k.line("spread", "%s", za.Spread)
	k.line("managers", "%d", za.Managers)
	k.line("quorum", "%d", quorum.Size(za.Managers))
	k.line("failures tolerated", "%d", za.Tolerance)
	k.line("node down probability", "%s", o.describeP(p))
	k.line("zone down probability", "%s", fmtProb(o.zoneP))
	k.line("survives any one zone", "%s", yesNo(za.SurvivesZone))
	k.line("exact with zones", "%s", za.Exact)
	k.line("exact without zone failures", "%s", noZones)
	if best != nil {
		k.line(fmt.Sprintf("best spread over %d zones", len(spread)), "%s  (exact %s)", best.Spread, best.Exact)
	}
	if err := k.flush(); err != nil {
		return err
	}
	return writeNotes(w, even, docker)
}

type tableRowJSON struct {
	Managers  int       `json:"managers"`
	Quorum    int       `json:"quorum"`
	Tolerance int       `json:"tolerance"`
	Estimate  probJSON  `json:"estimate_union_bound"`
	Exact     probJSON  `json:"exact"`
	Best      *zoneJSON `json:"best_spread,omitempty"`
}

func toTableRowJSON(a quorum.Analysis) tableRowJSON {
	return tableRowJSON{Managers: a.Managers, Quorum: a.Quorum, Tolerance: a.Tolerance, Estimate: toProbJSON(a.Estimate), Exact: toProbJSON(a.Exact)}
}

type tableJSON struct {
	P         float64        `json:"p"`
	ZoneCount int            `json:"zone_count,omitempty"`
	ZoneP     float64        `json:"zone_p,omitempty"`
	Rows      []tableRowJSON `json:"rows"`
}

func runQuorumTable(w io.Writer, o quorumOptions, p float64) error {
	rows, err := quorum.Table(quorumTableManagers, p)
	if err != nil {
		return err
	}
	best := make([]quorum.ZoneAnalysis, len(rows))
	if o.zoneCount != 0 {
		for i, a := range rows {
			if best[i], err = quorum.BestSpread(a.Managers, o.zoneCount, p, o.zoneP); err != nil {
				return err
			}
		}
	}
	if o.format == quorumFormatJSON {
		out := tableJSON{P: p, ZoneCount: o.zoneCount, ZoneP: o.zoneP}
		for i, a := range rows {
			r := toTableRowJSON(a)
			if o.zoneCount != 0 {
				r.Best = toZoneJSON(&best[i])
			}
			out.Rows = append(out.Rows, r)
		}
		return writeJSON(w, out)
	}
	if _, err := fmt.Fprintf(w, "node down probability %s\n\n", o.describeP(p)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := "MANAGERS\tQUORUM\tTOLERATES\tESTIMATE (UNION BOUND)\tEXACT"
	if o.zoneCount != 0 {
		head += fmt.Sprintf("\tBEST SPREAD (%d ZONES, ZONE P %s)\tEXACT WITH ZONES", o.zoneCount, fmtProb(o.zoneP))
	}
	fmt.Fprintln(tw, head)
	for i, a := range rows {
		line := fmt.Sprintf("%d\t%d\t%d\t%s\t%s", a.Managers, a.Quorum, a.Tolerance, a.Estimate, a.Exact)
		if o.zoneCount != 0 {
			line += fmt.Sprintf("\t%s\t%s", best[i].Spread, best[i].Exact)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(w,
		"note: an even count tolerates no more failures than the odd count below it, and loses quorum more often",
		dockerNote(quorumTableManagers))
}

type targetJSON struct {
	Target    float64        `json:"target"`
	P         float64        `json:"p"`
	ZoneCount int            `json:"zone_count,omitempty"`
	ZoneP     float64        `json:"zone_p,omitempty"`
	Managers  int            `json:"managers"`
	Exact     probJSON       `json:"exact"`
	Spread    []int          `json:"spread,omitempty"`
	Tried     []tableRowJSON `json:"tried"`
	Notes     []string       `json:"notes"`
}

func runQuorumTarget(w io.Writer, o quorumOptions, p float64) error {
	var s quorum.Sizing
	var err error
	if o.zoneCount != 0 {
		s, err = quorum.SmallestZoned(o.target, o.zoneCount, p, o.zoneP)
	} else {
		s, err = quorum.Smallest(o.target, p)
	}
	if err != nil {
		return err
	}
	even := fmt.Sprintf("note: only odd counts are listed: %d managers tolerate %d failures, like %d, and lose quorum more often", s.Managers+1, quorum.Tolerance(s.Managers+1), s.Managers)
	docker := dockerNote(s.Managers)
	if o.format == quorumFormatJSON {
		out := targetJSON{Target: o.target, P: p, ZoneCount: s.Zones, ZoneP: s.ZoneP, Managers: s.Managers, Exact: toProbJSON(s.Exact), Notes: jsonNotes(even, docker)}
		for i, a := range s.Tried {
			r := toTableRowJSON(a)
			if s.Zones != 0 {
				r.Best = toZoneJSON(&s.Spreads[i])
			}
			out.Tried = append(out.Tried, r)
		}
		if s.Zones != 0 {
			out.Spread = s.Spreads[len(s.Spreads)-1].Spread
		}
		return writeJSON(w, out)
	}
	k := newQuorumKV(w)
	k.line("target", "%s", fmtProb(o.target))
	k.line("node down probability", "%s", o.describeP(p))
	if s.Zones != 0 {
		k.line("zones", "%d, each down with probability %s", s.Zones, fmtProb(s.ZoneP))
	}
	answer := fmt.Sprintf("%d", s.Managers)
	if s.Zones != 0 {
		answer += fmt.Sprintf(", spread %s", s.Spreads[len(s.Spreads)-1].Spread)
	}
	k.line("smallest manager count", "%s  (exact %s)", answer, s.Exact)
	if err := k.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	meets := func(e quorum.Prob) string { return yesNo(e.Log() <= quorum.FromFloat(o.target).Log()) }
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if s.Zones != 0 {
		fmt.Fprintln(tw, "MANAGERS\tTOLERATES\tBEST SPREAD\tEXACT WITH ZONES\tMEETS TARGET")
		for _, z := range s.Spreads {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", z.Managers, z.Tolerance, z.Spread, z.Exact, meets(z.Exact))
		}
	} else {
		fmt.Fprintln(tw, "MANAGERS\tTOLERATES\tEXACT\tMEETS TARGET")
		for _, a := range s.Tried {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", a.Managers, a.Tolerance, a.Exact, meets(a.Exact))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(w, even, docker)
}
