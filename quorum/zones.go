package quorum

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MaxZones is the largest number of zones ParseZones and BestSpread accept.
const MaxZones = 9

// MaxSpreadManagers is the largest manager count BestSpread searches: it
// tries every way of spreading them, and Docker advises at most 7 anyway.
const MaxSpreadManagers = 25

// SpreadLimitError is a manager count above MaxSpreadManagers, the most
// BestSpread searches.
type SpreadLimitError struct {
	Managers int // the count asked for
}

func (e *SpreadLimitError) Error() string { return e.Message(Quantity.String) }

// Message is the error with the manager count written as name returns it.
func (e *SpreadLimitError) Message(name func(Quantity) string) string {
	return fmt.Sprintf("best spread of %d managers: the search tries every spread and stops at %d managers; give a smaller %s",
		e.Managers, MaxSpreadManagers, name(ManagerCount))
}

var _ NamedError = (*SpreadLimitError)(nil)

// Spread is how many managers sit in each zone, such as 2-2-1.
type Spread []int

// String joins the counts with dashes: "2-2-1".
func (s Spread) String() string {
	parts := make([]string, len(s))
	for i, c := range s {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, "-")
}

// Managers is the total number of managers in the spread.
func (s Spread) Managers() int {
	n := 0
	for _, c := range s {
		n += c
	}
	return n
}

// ParseZones parses a spread written as comma-separated manager counts, one
// per zone, such as "2,2,1".
func ParseZones(s string) (Spread, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("zones %q is empty: give the manager count of each zone, such as 2,2,1", s)
	}
	fields := strings.Split(s, ",")
	if len(fields) > MaxZones {
		return nil, fmt.Errorf("zones %q lists %d zones: give at most %d counts, such as 2,2,1", s, len(fields), MaxZones)
	}
	spread := make(Spread, 0, len(fields))
	total := 0
	for i, f := range fields {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("zone %d of %q is %q, not a manager count: give whole numbers separated by commas, such as 2,2,1", i+1, s, f)
		}
		if c <= 0 {
			return nil, fmt.Errorf("zone %d of %q has %d managers: every zone needs at least 1 (leave empty zones out)", i+1, s, c)
		}
		if c > MaxManagers || total+c > MaxManagers {
			return nil, fmt.Errorf("zones %q hold more than %d managers: give smaller counts", s, MaxManagers)
		}
		total += c
		spread = append(spread, c)
	}
	return spread, nil
}

// ZoneExact is the probability of losing quorum when the managers are
// spread over zones as given, every zone is down as a whole with
// probability q, and every node on top of that with probability p, all
// independently. The spread, p and q must be valid.
func ZoneExact(spread Spread, p, q float64) Prob {
	n := spread.Managers()
	return Prob{ln: logZoneTail(spread, Tolerance(n)+1, p, q)}
}

// logZoneTail is ln P(at least need of the managers in spread are down).
//
// Each zone is either down as a whole (probability q: all c managers are
// down) or up (probability 1−q: Binomial(c, p) of its managers are down).
// Summing over the 2^Z zone outcomes the binomials of the surviving zones
// is the same as convolving, zone by zone, the distribution of the number
// of managers down; that is what this does, in log space with only positive
// terms, in O(N²) rather than O(2^Z·N).
func logZoneTail(spread Spread, need int, p, q float64) float64 {
	if need <= 0 {
		return 0
	}
	dist := []float64{0} // ln P(d managers down) over the zones so far
	for _, c := range spread {
		zone := make([]float64, c+1)
		for d := 0; d <= c; d++ {
			zone[d] = xlog1my(1, q) + logBinomPMF(c, d, p)
		}
		if q > 0 {
			zone[c] = logAddExp(zone[c], math.Log(q))
		}
		next := make([]float64, len(dist)+c)
		for i := range next {
			next[i] = math.Inf(-1)
		}
		for a, la := range dist {
			for b, lb := range zone {
				next[a+b] = logAddExp(next[a+b], la+lb)
			}
		}
		dist = next
	}
	if need >= len(dist) {
		return math.Inf(-1)
	}
	return logSumExp(dist[need:])
}

// ZoneAnalysis is the quorum math for managers spread over zones.
type ZoneAnalysis struct {
	Spread    Spread  // managers per zone
	Managers  int     // N, the sum of the spread
	Tolerance int     // K = ⌊(N−1)/2⌋
	P         float64 // one node's probability of being down
	ZoneP     float64 // one zone's probability of being down as a whole
	Exact     Prob    // probability of more than K managers down
	// SurvivesZone reports whether losing any one zone leaves a quorum
	// (the largest zone holds at most K managers).
	SurvivesZone bool
}

// AnalyzeZones validates its input and returns the quorum math for spread.
func AnalyzeZones(spread Spread, p, q float64) (ZoneAnalysis, error) {
	if len(spread) == 0 {
		return ZoneAnalysis{}, fmt.Errorf("no zones given: give the manager count of each zone, such as 2,2,1")
	}
	for i, c := range spread {
		if c <= 0 {
			return ZoneAnalysis{}, fmt.Errorf("zone %d of %s has %d managers: every zone needs at least 1", i+1, spread, c)
		}
	}
	n := spread.Managers()
	if err := ValidateManagers(n); err != nil {
		return ZoneAnalysis{}, err
	}
	if err := ValidateP(NodeDownP, p); err != nil {
		return ZoneAnalysis{}, err
	}
	if err := ValidateP(ZoneDownP, q); err != nil {
		return ZoneAnalysis{}, err
	}
	return ZoneAnalysis{
		Spread:       slices.Clone(spread),
		Managers:     n,
		Tolerance:    Tolerance(n),
		P:            p,
		ZoneP:        q,
		Exact:        ZoneExact(spread, p, q),
		SurvivesZone: slices.Max(spread) <= Tolerance(n),
	}, nil
}

// BestSpread is the spread of n managers over at most z zones with the
// lowest probability of losing quorum, trying every spread. Spreads within
// a relative 1e-9 of each other count as equal, and the more even one (the
// smaller largest zone, then the next, ...) wins, so with q = 0, where all
// spreads are equal, it is the most even one. The result lists z counts,
// largest first, with 0 for zones left empty.
//
// For 3 zones it agrees with Docker's guidance (3 → 1-1-1, 5 → 2-2-1,
// 7 → 3-2-2, 9 → 3-3-3) whenever p ≤ 0.1 and q ≤ 0.2, which covers every
// real deployment; see TestBestSpreadDockerGuidance. Docker's rule is "no
// zone holds a quorum's worth of managers"; the optimiser also prefers,
// among the spreads that survive one zone, the one that leaves the most
// margin after it (9: 3-3-3 over 4-3-2, which also survives one zone).
// It disagrees only where failures are so frequent that a zone outage
// nearly always meets enough node failures to lose quorum anyway (found at
// p = 0.1 with q = 0.3, p = 0.15 with q = 0.2, p = 0.18 with q = 0.05, and
// p = 0.2 with any q > 0): then each extra zone is
// one more thing whose failure is fatal, and one zone holding every manager
// comes out ahead by a hair (5 managers, p = 0.1, q = 0.3: 5-0-0 loses
// quorum with 0.3060, 2-2-1 with 0.3063). For an even count no spread over
// 3 zones survives every single zone (4 → 2-1-1 still fails with its
// 2-zone), so the optimiser picks the spread with the fewest fatal zones,
// which can be all in one (4 → 4-0-0). More than MaxSpreadManagers
// managers is a *SpreadLimitError.
func BestSpread(n, z int, p, q float64) (ZoneAnalysis, error) {
	if err := ValidateManagers(n); err != nil {
		return ZoneAnalysis{}, err
	}
	if n > MaxSpreadManagers {
		return ZoneAnalysis{}, &SpreadLimitError{Managers: n}
	}
	if z <= 0 || z > MaxZones {
		return ZoneAnalysis{}, fmt.Errorf("zone count %d is out of range: give 1 to %d zones", z, MaxZones)
	}
	if err := ValidateP(NodeDownP, p); err != nil {
		return ZoneAnalysis{}, err
	}
	if err := ValidateP(ZoneDownP, q); err != nil {
		return ZoneAnalysis{}, err
	}
	var best Spread
	bestLn := math.Inf(1)
	partitions(n, z, n, nil, func(parts []int) {
		ln := logZoneTail(parts, Tolerance(n)+1, p, q)
		switch {
		case best == nil:
		case sameProb(ln, bestLn):
			if !moreEven(parts, best) {
				return
			}
		case ln > bestLn:
			return
		}
		best, bestLn = slices.Clone(parts), ln
	})
	a := ZoneAnalysis{
		Spread:       make(Spread, z),
		Managers:     n,
		Tolerance:    Tolerance(n),
		P:            p,
		ZoneP:        q,
		Exact:        Prob{ln: bestLn},
		SurvivesZone: best[0] <= Tolerance(n),
	}
	copy(a.Spread, best)
	return a, nil
}

// sameProb reports whether two log-probabilities are within a relative
// 1e-9 of each other (or both 0).
func sameProb(a, b float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= 1e-9
}

// partitions calls fn with every way of writing n as at most z positive
// parts, each at most max, largest first.
func partitions(n, z, max int, prefix []int, fn func([]int)) {
	if n == 0 {
		fn(prefix)
		return
	}
	if z == 0 {
		return
	}
	for c := min(n, max); c >= 1; c-- {
		partitions(n-c, z-1, c, append(prefix, c), fn)
	}
}

// moreEven reports whether spread a (largest first) is more even than b:
// its largest zone is smaller, or equal and then its next, and so on.
func moreEven(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) > len(b)
}
