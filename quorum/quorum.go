package quorum

import (
	"fmt"
	"math"
)

// MaxManagers is the largest manager count the math accepts.
const MaxManagers = 1000

// DockerMaxManagers is Docker's advice on the most managers a swarm should
// have: every write goes through the quorum, so more managers are slower.
const DockerMaxManagers = 7

// Tolerance is the number of managers N managers can lose and keep quorum:
// K = ⌊(N−1)/2⌋. It is 0 for N ≤ 0.
func Tolerance(n int) int {
	if n <= 0 {
		return 0
	}
	return (n - 1) / 2
}

// Size is the quorum of N managers: ⌊N/2⌋+1 of them must be up.
func Size(n int) int {
	if n <= 0 {
		return 0
	}
	return n/2 + 1
}

// ValidateManagers checks a manager count is in 1..MaxManagers.
func ValidateManagers(n int) error {
	if n <= 0 || n > MaxManagers {
		return fmt.Errorf("manager count %d is out of range: give a count from 1 to %d", n, MaxManagers)
	}
	return nil
}

// ValidateP checks that p, the quantity q (NodeDownP or ZoneDownP), is a
// probability; if not, the error is a *RangeError.
func ValidateP(q Quantity, p float64) error {
	if math.IsNaN(p) || p < 0 || p > 1 {
		return &RangeError{Quantity: q, Value: p}
	}
	return nil
}

// Estimate is the talk's estimate C(N,K+1)·P^(K+1) of losing quorum: the
// union bound over every set of K+1 managers, so never below Exact (and it
// can exceed 1 when P is large). N and P must be valid.
func Estimate(n int, p float64) Prob {
	k := Tolerance(n) + 1
	return Prob{ln: logChoose(n, k) + xlogy(float64(k), p)}
}

// Exact is the probability that more than K of N managers, each down
// independently with probability P, are down at once. N and P must be valid.
func Exact(n int, p float64) Prob {
	return Prob{ln: logBinomTail(n, Tolerance(n)+1, p)}
}

// Analysis is the quorum math for one manager count and node probability.
type Analysis struct {
	Managers  int     // N
	Quorum    int     // ⌊N/2⌋+1
	Tolerance int     // K = ⌊(N−1)/2⌋
	P         float64 // one node's probability of being down
	Estimate  Prob    // C(N,K+1)·P^(K+1), the union bound
	Exact     Prob    // Σ_{i>K} C(N,i)·P^i·(1−P)^(N−i)
}

// Analyze validates N and P and returns the quorum math for them.
func Analyze(n int, p float64) (Analysis, error) {
	if err := ValidateManagers(n); err != nil {
		return Analysis{}, err
	}
	if err := ValidateP(NodeDownP, p); err != nil {
		return Analysis{}, err
	}
	return Analysis{
		Managers:  n,
		Quorum:    Size(n),
		Tolerance: Tolerance(n),
		P:         p,
		Estimate:  Estimate(n, p),
		Exact:     Exact(n, p),
	}, nil
}

// Table is the analysis for every manager count from 1 to max.
func Table(max int, p float64) ([]Analysis, error) {
	if err := ValidateManagers(max); err != nil {
		return nil, err
	}
	rows := make([]Analysis, 0, max)
	for n := 1; n <= max; n++ {
		a, err := Analyze(n, p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, a)
	}
	return rows, nil
}

// logChoose is ln C(n,k) for 0 ≤ k ≤ n.
func logChoose(n, k int) float64 {
	if k < 0 || k > n {
		return math.Inf(-1)
	}
	if k == 0 || k == n {
		return 0
	}
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// xlogy is x·ln(y) with 0·ln(0) = 0, so a zero exponent of a zero
// probability is 1 and not NaN.
func xlogy(x, y float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(y)
}

// xlog1my is x·ln(1−y) with 0·ln(0) = 0.
func xlog1my(x, y float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log1p(-y)
}

// logBinomPMF is ln P(X = i) for X ~ Binomial(n, p).
func logBinomPMF(n, i int, p float64) float64 {
	return logChoose(n, i) + xlogy(float64(i), p) + xlog1my(float64(n-i), p)
}

// logBinomTail is ln P(X ≥ k) for X ~ Binomial(n, p): a log-sum-exp of
// positive terms, so nothing cancels.
func logBinomTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 0
	}
	if k > n {
		return math.Inf(-1)
	}
	terms := make([]float64, 0, n-k+1)
	for i := k; i <= n; i++ {
		terms = append(terms, logBinomPMF(n, i, p))
	}
	return logSumExp(terms)
}
