package quorum

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Prob is a probability held as its natural logarithm, so values far below
// float64's smallest number (1000 managers at P = 1e-12 lose quorum with a
// probability near 1e-5700) keep their value. Build it with the functions
// of this package or FromFloat: the zero value is probability 1.
type Prob struct{ ln float64 }

// FromFloat is the Prob of a probability given as a float64.
func FromFloat(p float64) Prob { return Prob{ln: math.Log(p)} }

// Float is the probability as a float64; it is 0 when the value is below
// float64's range (see Log10 for the magnitude).
func (p Prob) Float() float64 { return math.Exp(p.ln) }

// Log is the natural logarithm of the probability (−Inf for 0).
func (p Prob) Log() float64 { return p.ln }

// Log10 is the base-10 logarithm of the probability (−Inf for 0).
func (p Prob) Log10() float64 { return p.ln / math.Ln10 }

// IsZero reports whether the probability is exactly 0.
func (p Prob) IsZero() bool { return math.IsInf(p.ln, -1) }

// Less reports whether p is smaller than q.
func (p Prob) Less(q Prob) bool { return p.ln < q.ln }

// String formats the probability with four significant digits in
// exponent form ("9.851e-06"), also when it is below float64's range.
func (p Prob) String() string {
	switch {
	case math.IsNaN(p.ln):
		return "NaN"
	case math.IsInf(p.ln, -1):
		return "0"
	case p.ln > -700:
		return strconv.FormatFloat(math.Exp(p.ln), 'e', 3, 64)
	}
	l10 := p.Log10()
	e := math.Floor(l10)
	m := math.Pow(10, l10-e)
	s := strconv.FormatFloat(m, 'f', 3, 64)
	if s == "10.000" {
		s, e = "1.000", e+1
	}
	return fmt.Sprintf("%se-%02d", s, int64(-e))
}

// logSumExp is ln Σ exp(terms), adding the smallest terms first so that
// small contributions are not lost. Every term must be ≤ 0 or −Inf.
func logSumExp(terms []float64) float64 {
	if len(terms) == 0 {
		return math.Inf(-1)
	}
	sorted := slices.Clone(terms)
	slices.Sort(sorted)
	top := sorted[len(sorted)-1]
	if math.IsInf(top, -1) {
		return top
	}
	sum := 0.0
	for _, t := range sorted {
		sum += math.Exp(t - top)
	}
	return top + math.Log(sum)
}

// logAddExp is ln(exp(a) + exp(b)).
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(a, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}
