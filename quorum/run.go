package quorum

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// TableManagers is how many manager counts --table shows: 1 to 9.
const TableManagers = 9

// Options is what `deckhand quorum` was asked; the …Set fields say which
// flags were given, since 0 is a meaningful (or a wrong) value for them.
type Options struct {
	Managers    int     // --managers: analyse this many managers offline
	ManagersSet bool    // --managers was given
	P           float64 // --p: one node's probability of being down
	PSet        bool    // --p was given
	MTBF, MTTR  string  // --mtbf/--mttr: P from availability figures
	Table       bool    // --table: N = 1..9 side by side
	Target      float64 // --target: smallest N meeting this probability
	TargetSet   bool    // --target was given
	Zones       string  // --zones: a spread such as 2,2,1
	ZonesSet    bool    // --zones was given
	ZoneP       float64 // --zone-p: one zone's probability of being down
	ZonePSet    bool    // --zone-p was given
	ZoneCount   int     // --zone-count: spread the managers over this many zones
	ZoneLabel   string  // --zone-label: node label naming a live manager's zone
	Format      string  // --format: "table" or "json"
}

// Connector opens the engine for live mode; a result that is an io.Closer
// is closed when Run is done with it.
type Connector func(ctx context.Context) (NodeLister, error)

// Run answers `deckhand quorum`: offline math when --managers, --zones,
// --table or --target is given, otherwise a live check of the swarm
// connect reaches. Output goes to w; a lost quorum is an error wrapping
// ErrNoQuorum after the status is written.
func Run(ctx context.Context, w io.Writer, o Options, connect Connector) error {
	if o.Format != "table" && o.Format != "json" {
		return fmt.Errorf("--format %q is not supported: use table or json", o.Format)
	}
	p, pGiven, err := resolveP(o)
	if err != nil {
		return err
	}
	if err := checkCombination(o); err != nil {
		return err
	}
	if o.ZonePSet {
		if err := ValidateP("--zone-p", o.ZoneP); err != nil {
			return err
		}
	}
	offline := o.ManagersSet || o.ZonesSet || o.Table || o.TargetSet
	if !offline {
		return runLive(ctx, w, o, p, pGiven, connect)
	}
	if !pGiven {
		return errors.New("no node failure probability: give --p (such as --p 0.01) or --mtbf and --mttr (such as --mtbf 2000h --mttr 4h)")
	}
	switch {
	case o.Table:
		return runTable(w, o, p)
	case o.TargetSet:
		return runTarget(w, o, p)
	case o.ZonesSet:
		return runZones(w, o, p)
	default:
		return runManagers(w, o, p)
	}
}

// resolveP is the node probability from --p or --mtbf/--mttr, and whether
// one of them was given.
func resolveP(o Options) (float64, bool, error) {
	if o.PSet && (o.MTBF != "" || o.MTTR != "") {
		return 0, false, errors.New("--p and --mtbf/--mttr both give the node failure probability: use one or the other")
	}
	if o.PSet {
		if err := ValidateP("--p", o.P); err != nil {
			return 0, false, err
		}
		return o.P, true, nil
	}
	if o.MTBF == "" && o.MTTR == "" {
		return 0, false, nil
	}
	if o.MTBF == "" || o.MTTR == "" {
		return 0, false, errors.New("--mtbf and --mttr go together: give both, such as --mtbf 2000h --mttr 4h")
	}
	mtbf, err := ParseDuration(o.MTBF)
	if err != nil {
		return 0, false, fmt.Errorf("--mtbf: %w", err)
	}
	mttr, err := ParseDuration(o.MTTR)
	if err != nil {
		return 0, false, fmt.Errorf("--mttr: %w", err)
	}
	p, err := FromMTBF(mtbf, mttr)
	return p, err == nil, err
}

// checkCombination refuses flags that ask for different things at once.
func checkCombination(o Options) error {
	if o.Table && (o.ManagersSet || o.TargetSet || o.ZonesSet) {
		return errors.New("--table shows 1 to 9 managers: drop --managers, --target and --zones (--zone-count and --zone-p add a zone column)")
	}
	if o.TargetSet && (o.ManagersSet || o.ZonesSet) {
		return errors.New("--target finds the manager count: drop --managers and --zones (use --zone-count to size with zones)")
	}
	if o.ZonesSet && o.ZoneCount != 0 {
		return errors.New("--zones already sets the zones: drop --zone-count")
	}
	offline := o.ManagersSet || o.ZonesSet || o.Table || o.TargetSet
	if o.ZoneCount != 0 && !offline {
		return errors.New("--zone-count needs --managers, --table or --target; live mode reads zones from --zone-label")
	}
	if offline && o.ZonePSet && o.Zones == "" && o.ZoneCount == 0 {
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

func toJSON(p Prob) probJSON {
	out := probJSON{Value: jsonNumber(p.Float())}
	if !p.IsZero() {
		l := jsonNumber(p.Log10())
		out.Log10 = &l
	}
	return out
}

// jsonNumber writes f with 12 significant digits.
func jsonNumber(f float64) json.Number {
	return json.Number(strconv.FormatFloat(f, 'g', 12, 64))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// kv writes aligned "name  value" lines.
type kv struct{ tw *tabwriter.Writer }

func newKV(w io.Writer) kv { return kv{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)} }

func (k kv) line(name string, format string, args ...any) {
	fmt.Fprintf(k.tw, "%s\t%s\n", name, fmt.Sprintf(format, args...))
}

func (k kv) flush() error { return k.tw.Flush() }

func fmtP(p float64) string { return fmt.Sprint(p) }

// describeP is the node probability, with its derivation when it comes
// from --mtbf and --mttr.
func describeP(o Options, p float64) string {
	if o.PSet || o.MTBF == "" {
		return fmtP(p)
	}
	return fmt.Sprintf("%.6g = MTTR %s / (MTBF %s + MTTR %s)", p, o.MTTR, o.MTBF, o.MTTR)
}

// evenNote explains that an even count adds no tolerance, or is "".
func evenNote(n int) string {
	if n%2 == 1 || n <= 0 {
		return ""
	}
	return fmt.Sprintf("note: %d managers tolerate %d failures, like %d: an even count adds no tolerance and one more node that can fail", n, Tolerance(n), n-1)
}

// dockerNote warns above Docker's advice of 7 managers, or is "".
func dockerNote(n int) string {
	if n <= DockerMaxManagers {
		return ""
	}
	return fmt.Sprintf("note: Docker advises at most %d managers: every write goes through the quorum, so more managers make the swarm slower", DockerMaxManagers)
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

func zoneToJSON(z ZoneAnalysis) *zoneJSON {
	return &zoneJSON{Spread: z.Spread, ZoneP: z.ZoneP, Exact: toJSON(z.Exact), SurvivesZone: z.SurvivesZone}
}

func notes(ns ...string) []string {
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

func runManagers(w io.Writer, o Options, p float64) error {
	a, err := Analyze(o.Managers, p)
	if err != nil {
		return err
	}
	var best *ZoneAnalysis
	if o.ZoneCount != 0 {
		z, err := BestSpread(o.Managers, o.ZoneCount, p, o.ZoneP)
		if err != nil {
			return err
		}
		best = &z
	}
	even, docker := evenNote(a.Managers), dockerNote(a.Managers)
	if o.Format == "json" {
		out := managersJSON{
			Managers: a.Managers, Quorum: a.Quorum, Tolerance: a.Tolerance, P: p,
			Estimate: toJSON(a.Estimate), Exact: toJSON(a.Exact), Notes: notes(even, docker),
		}
		if best != nil {
			out.Zones = zoneToJSON(*best)
		}
		return writeJSON(w, out)
	}
	k := newKV(w)
	k.line("managers", "%d", a.Managers)
	k.line("quorum", "%d", a.Quorum)
	k.line("failures tolerated", "%d", a.Tolerance)
	k.line("node down probability", "%s", describeP(o, p))
	k.line("estimate (union bound)", "%s  = C(%d,%d)·p^%d, never below exact", a.Estimate, a.Managers, a.Tolerance+1, a.Tolerance+1)
	k.line("exact", "%s", a.Exact)
	if best != nil {
		k.line(fmt.Sprintf("best spread over %d zones", o.ZoneCount), "%s", best.Spread)
		k.line("zone down probability", "%s", fmtP(o.ZoneP))
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

func runZones(w io.Writer, o Options, p float64) error {
	spread, err := ParseZones(o.Zones)
	if err != nil {
		return fmt.Errorf("--zones: %w", err)
	}
	if o.ManagersSet && o.Managers != spread.Managers() {
		return fmt.Errorf("--managers %d and --zones %s (%d managers) disagree: drop --managers or fix the spread", o.Managers, o.Zones, spread.Managers())
	}
	za, err := AnalyzeZones(spread, p, o.ZoneP)
	if err != nil {
		return err
	}
	var best *ZoneAnalysis
	if za.Managers <= MaxSpreadManagers {
		b, err := BestSpread(za.Managers, len(spread), p, o.ZoneP)
		if err != nil {
			return err
		}
		best = &b
	}
	even, docker := evenNote(za.Managers), dockerNote(za.Managers)
	noZones := Exact(za.Managers, p)
	if o.Format == "json" {
		out := zonesJSON{
			Spread: za.Spread, Managers: za.Managers, Quorum: Size(za.Managers), Tolerance: za.Tolerance,
			P: p, ZoneP: o.ZoneP, SurvivesZone: za.SurvivesZone, Exact: toJSON(za.Exact),
			NoZones: toJSON(noZones), Notes: notes(even, docker),
		}
		if best != nil {
			out.Best = zoneToJSON(*best)
		}
		return writeJSON(w, out)
	}
	k := newKV(w)
	k.line("spread", "%s", za.Spread)
	k.line("managers", "%d", za.Managers)
	k.line("quorum", "%d", Size(za.Managers))
	k.line("failures tolerated", "%d", za.Tolerance)
	k.line("node down probability", "%s", describeP(o, p))
	k.line("zone down probability", "%s", fmtP(o.ZoneP))
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

type tableJSON struct {
	P         float64        `json:"p"`
	ZoneCount int            `json:"zone_count,omitempty"`
	ZoneP     float64        `json:"zone_p,omitempty"`
	Rows      []tableRowJSON `json:"rows"`
}

func runTable(w io.Writer, o Options, p float64) error {
	rows, err := Table(TableManagers, p)
	if err != nil {
		return err
	}
	best := make([]ZoneAnalysis, len(rows))
	if o.ZoneCount != 0 {
		for i, a := range rows {
			if best[i], err = BestSpread(a.Managers, o.ZoneCount, p, o.ZoneP); err != nil {
				return err
			}
		}
	}
	if o.Format == "json" {
		out := tableJSON{P: p, ZoneCount: o.ZoneCount, ZoneP: o.ZoneP}
		for i, a := range rows {
			r := tableRowJSON{Managers: a.Managers, Quorum: a.Quorum, Tolerance: a.Tolerance, Estimate: toJSON(a.Estimate), Exact: toJSON(a.Exact)}
			if o.ZoneCount != 0 {
				r.Best = zoneToJSON(best[i])
			}
			out.Rows = append(out.Rows, r)
		}
		return writeJSON(w, out)
	}
	if _, err := fmt.Fprintf(w, "node down probability %s\n\n", describeP(o, p)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := "MANAGERS\tQUORUM\tTOLERATES\tESTIMATE (UNION BOUND)\tEXACT"
	if o.ZoneCount != 0 {
		head += fmt.Sprintf("\tBEST SPREAD (%d ZONES, ZONE P %s)\tEXACT WITH ZONES", o.ZoneCount, fmtP(o.ZoneP))
	}
	fmt.Fprintln(tw, head)
	for i, a := range rows {
		line := fmt.Sprintf("%d\t%d\t%d\t%s\t%s", a.Managers, a.Quorum, a.Tolerance, a.Estimate, a.Exact)
		if o.ZoneCount != 0 {
			line += fmt.Sprintf("\t%s\t%s", best[i].Spread, best[i].Exact)
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(w,
		"note: an even count tolerates no more failures than the odd count below it, and loses quorum more often",
		dockerNote(TableManagers))
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

func runTarget(w io.Writer, o Options, p float64) error {
	var s Sizing
	var err error
	if o.ZoneCount != 0 {
		s, err = SmallestZoned(o.Target, o.ZoneCount, p, o.ZoneP)
	} else {
		s, err = Smallest(o.Target, p)
	}
	if err != nil {
		return err
	}
	even := fmt.Sprintf("note: only odd counts are listed: %d managers tolerate %d failures, like %d, and lose quorum more often", s.Managers+1, Tolerance(s.Managers+1), s.Managers)
	docker := dockerNote(s.Managers)
	if o.Format == "json" {
		out := targetJSON{Target: o.Target, P: p, ZoneCount: s.Zones, ZoneP: s.ZoneP, Managers: s.Managers, Exact: toJSON(s.Exact), Notes: notes(even, docker)}
		for i, a := range s.Tried {
			r := tableRowJSON{Managers: a.Managers, Quorum: a.Quorum, Tolerance: a.Tolerance, Estimate: toJSON(a.Estimate), Exact: toJSON(a.Exact)}
			if s.Zones != 0 {
				r.Best = zoneToJSON(s.Spreads[i])
			}
			out.Tried = append(out.Tried, r)
		}
		if s.Zones != 0 {
			out.Spread = s.Spreads[len(s.Spreads)-1].Spread
		}
		return writeJSON(w, out)
	}
	k := newKV(w)
	k.line("target", "%s", fmtP(o.Target))
	k.line("node down probability", "%s", describeP(o, p))
	if s.Zones != 0 {
		k.line("zones", "%d, each down with probability %s", s.Zones, fmtP(s.ZoneP))
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
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if s.Zones != 0 {
		fmt.Fprintln(tw, "MANAGERS\tTOLERATES\tBEST SPREAD\tEXACT WITH ZONES\tMEETS TARGET")
		for _, z := range s.Spreads {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\n", z.Managers, z.Tolerance, z.Spread, z.Exact, yesNo(z.Exact.Log() <= FromFloat(o.Target).Log()))
		}
	} else {
		fmt.Fprintln(tw, "MANAGERS\tTOLERATES\tEXACT\tMEETS TARGET")
		for _, a := range s.Tried {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", a.Managers, a.Tolerance, a.Exact, yesNo(a.Exact.Log() <= FromFloat(o.Target).Log()))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(w, even, docker)
}
