package quorum

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// near reports whether got is within a relative tol of want.
func near(got, want, tol float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= tol*math.Abs(want)
}

func TestToleranceAndSize(t *testing.T) {
	// N managers need ⌊N/2⌋+1 up and tolerate K = ⌊(N−1)/2⌋ down.
	tests := []struct{ n, quorum, tolerance int }{
		{1, 1, 0}, {2, 2, 0}, {3, 2, 1}, {4, 3, 1}, {5, 3, 2},
		{6, 4, 2}, {7, 4, 3}, {8, 5, 3}, {9, 5, 4}, {1000, 501, 499},
	}
	for _, tt := range tests {
		if got := Size(tt.n); got != tt.quorum {
			t.Errorf("Size(%d) = %d, want %d", tt.n, got, tt.quorum)
		}
		if got := Tolerance(tt.n); got != tt.tolerance {
			t.Errorf("Tolerance(%d) = %d, want %d", tt.n, got, tt.tolerance)
		}
		// Losing K keeps a quorum; losing K+1 does not.
		if tt.n-tt.tolerance < tt.quorum || tt.n-tt.tolerance-1 >= tt.quorum {
			t.Errorf("N=%d: K=%d and quorum %d disagree", tt.n, tt.tolerance, tt.quorum)
		}
	}
}

func TestExactAndEstimateByHand(t *testing.T) {
	tests := []struct {
		name            string
		n               int
		p               float64
		estimate, exact float64
	}{
		// K=0: one failure loses quorum. Estimate C(1,1)·p = p; exact P(X≥1) = p.
		{"1 manager", 1, 0.01, 0.01, 0.01},
		// K=0. Estimate C(2,1)·p = 0.02; exact 1−(1−p)² = 1−0.9801 = 0.0199.
		{"2 managers", 2, 0.01, 0.02, 0.0199},
		// K=1. Estimate C(3,2)·p² = 3e-4; exact 3·p²·(1−p) + p³
		// = 3·1e-4·0.99 + 1e-6 = 2.97e-4 + 1e-6 = 2.98e-4.
		{"3 managers", 3, 0.01, 3e-4, 2.98e-4},
		// K=1. Estimate C(4,2)·p² = 6e-4; exact 6·p²·(1−p)² + 4·p³·(1−p) + p⁴
		// = 6e-4·0.9801 + 4e-6·0.99 + 1e-8 = 5.8806e-4 + 3.96e-6 + 1e-8 = 5.9203e-4.
		{"4 managers", 4, 0.01, 6e-4, 5.9203e-4},
		// K=2. Estimate C(5,3)·p³ = 1e-5; exact 10·p³·(1−p)² + 5·p⁴·(1−p) + p⁵
		// = 9.801e-6 + 4.95e-8 + 1e-10 = 9.8506e-6.
		{"5 managers", 5, 0.01, 1e-5, 9.8506e-6},
		// K=3. Estimate C(7,4)·p⁴ = 35·1e-8 = 3.5e-7; exact 35·p⁴·(1−p)³ +
		// 21·p⁵·(1−p)² + 7·p⁶·(1−p) + p⁷ = 3.39605e-7 + 2.05821e-9 +
		// 6.93e-12 + 1e-14 = 3.416701e-7.
		{"7 managers", 7, 0.01, 3.5e-7, 3.416701e-7},
		// K=3, p=0.1. Estimate 35·1e-4 = 3.5e-3; exact 35·1e-4·0.729 +
		// 21·1e-5·0.81 + 7·1e-6·0.9 + 1e-7 = 2.5515e-3 + 1.701e-4 + 6.3e-6 +
		// 1e-7 = 2.728e-3.
		{"7 managers p=0.1", 7, 0.1, 3.5e-3, 2.728e-3},
		// K=1, p=½: by symmetry an odd count loses quorum half the time:
		// 3·¼·½ + ⅛ = ½. Estimate 3·¼ = ¾.
		{"3 managers p=0.5", 3, 0.5, 0.75, 0.5},
		// K=4, p=½: the union bound exceeds 1: C(9,5)/2⁵ = 126/32 = 3.9375.
		{"9 managers p=0.5", 9, 0.5, 3.9375, 0.5},
		// K=1, p=1e-12: exact 3p²(1−p) + p³ = 3e-24 − 2e-36 ≈ 3e-24.
		{"3 managers p=1e-12", 3, 1e-12, 3e-24, 3e-24},
		// p=0: nothing fails; p=1: everything does.
		{"p=0", 5, 0, 0, 0},
		{"p=1", 5, 1, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Analyze(tt.n, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Estimate.Float(); !near(got, tt.estimate, 1e-4) {
				t.Errorf("estimate = %v, want %v", got, tt.estimate)
			}
			if got := a.Exact.Float(); !near(got, tt.exact, 1e-4) {
				t.Errorf("exact = %v, want %v", got, tt.exact)
			}
		})
	}
}

func TestExactFarBelowFloat64(t *testing.T) {
	// 1000 managers (K=499) at p=1e-12: the first term, i=500, dominates
	// (the next is smaller by 500/501·1e-12): C(1000,500)·1e-6000. By
	// Stirling C(2n,n) ≈ 4ⁿ/√(πn)·(1−1/(8n)), so log10 C(1000,500) =
	// 500·log10 4 − ½·log10(500π) + log10(1−1/4000) = 301.029996 − 1.598059
	// − 0.000109 = 299.431828, and log10 exact = −5700.568172.
	a, err := Analyze(1000, 1e-12)
	if err != nil {
		t.Fatal(err)
	}
	const want = -5700.568172
	if got := a.Exact.Log10(); math.Abs(got-want) > 1e-5 {
		t.Errorf("log10 exact = %.6f, want %.6f", got, want)
	}
	if got := a.Exact.String(); got != "2.703e-5701" {
		t.Errorf("exact = %s, want 2.703e-5701", got)
	}
	if a.Exact.IsZero() || a.Exact.Float() != 0 {
		t.Errorf("exact should be positive yet below float64: %v, %v", a.Exact.IsZero(), a.Exact.Float())
	}
}

func TestInvariants(t *testing.T) {
	ps := []float64{1e-12, 1e-9, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5}
	for n := 1; n <= 60; n++ {
		prev := Prob{ln: math.Inf(-1)}
		for _, p := range ps {
			est, ex := Estimate(n, p), Exact(n, p)
			// The union bound never falls below the exact value (N=1: equal).
			if est.Log() < ex.Log()-1e-12 {
				t.Errorf("N=%d p=%v: estimate %v < exact %v", n, p, est, ex)
			}
			// The exact probability rises with P.
			if !prev.Less(ex) {
				t.Errorf("N=%d: exact %v at p=%v does not rise above %v", n, ex, p, prev)
			}
			prev = ex
			if ex.IsZero() || ex.Log() > 0 || math.IsNaN(ex.Log()) {
				t.Errorf("N=%d p=%v: exact %v is not in (0, 1]", n, p, ex)
			}
		}
	}
	for k := 0; k < 500; k++ {
		// 2K+1 and 2K+2 managers tolerate the same K failures; the even
		// count only adds a node that can fail.
		if Tolerance(2*k+1) != k || Tolerance(2*k+2) != k {
			t.Errorf("K=%d: Tolerance(2K+1)=%d, Tolerance(2K+2)=%d", k, Tolerance(2*k+1), Tolerance(2*k+2))
		}
		if Exact(2*k+2, 0.01).Less(Exact(2*k+1, 0.01)) {
			t.Errorf("K=%d: %d managers lose quorum less often than %d", k, 2*k+2, 2*k+1)
		}
	}
}

// bigExact is the exact tail computed with 256-bit floats and no
// logarithms, as an independent reference; it returns ln of the result.
func bigExact(n int, p float64) float64 {
	const prec = 256
	bp := new(big.Float).SetPrec(prec).SetFloat64(p)
	bq := new(big.Float).SetPrec(prec).Sub(big.NewFloat(1).SetPrec(prec), bp)
	sum := new(big.Float).SetPrec(prec)
	for i := Tolerance(n) + 1; i <= n; i++ {
		c := new(big.Float).SetPrec(prec).SetInt(new(big.Int).Binomial(int64(n), int64(i)))
		for j := 0; j < i; j++ {
			c.Mul(c, bp)
		}
		for j := 0; j < n-i; j++ {
			c.Mul(c, bq)
		}
		sum.Add(sum, c)
	}
	mant := new(big.Float)
	exp := sum.MantExp(mant)
	m, _ := mant.Float64()
	return math.Log(m) + float64(exp)*math.Ln2
}

func TestExactMatchesBigFloatProperty(t *testing.T) {
	// A seeded property test over random N in 1..1000 and P log-uniform
	// in [1e-12, 0.5], against an independent arbitrary-precision sum.
	r := rand.New(rand.NewPCG(5, 2026))
	cases := 60
	if testing.Short() {
		cases = 15
	}
	for range cases {
		n := 1 + r.IntN(MaxManagers)
		p := math.Pow(10, -12+r.Float64()*(12-math.Log10(2)))
		got := Exact(n, p)
		want := bigExact(n, p)
		if math.Abs(got.Log()-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("N=%d p=%g: ln exact = %.12g, big.Float says %.12g", n, p, got.Log(), want)
		}
		if est := Estimate(n, p); est.Log() < got.Log()-1e-9 {
			t.Errorf("N=%d p=%g: estimate %v < exact %v", n, p, est, got)
		}
		if got.IsZero() || math.IsInf(got.Log(), 0) || math.IsNaN(got.Log()) {
			t.Errorf("N=%d p=%g: exact %v is not a positive probability", n, p, got)
		}
	}
}

func TestAnalyzeRejectsBadInput(t *testing.T) {
	tests := []struct {
		n int
		p float64
	}{
		{0, 0.01}, {-3, 0.01}, {MaxManagers + 1, 0.01},
		{5, -0.1}, {5, 1.5}, {5, math.NaN()}, {5, math.Inf(1)},
	}
	for _, tt := range tests {
		if _, err := Analyze(tt.n, tt.p); err == nil {
			t.Errorf("Analyze(%d, %v) accepted bad input", tt.n, tt.p)
		}
	}
}

func TestProbString(t *testing.T) {
	tests := []struct {
		p    Prob
		want string
	}{
		{FromFloat(9.8506e-6), "9.851e-06"},
		{FromFloat(0), "0"},
		{FromFloat(1), "1.000e+00"},
		{Prob{ln: -1000 * math.Ln10}, "1.000e-1000"},
		{Prob{ln: (-1000 + math.Log10(9.99996)) * math.Ln10}, "1.000e-999"},
		{Prob{ln: (-400 + math.Log10(2.5)) * math.Ln10}, "2.500e-400"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestSmallest(t *testing.T) {
	// p=0.01: 5 managers lose quorum with 9.85e-6 > 1e-6 (see
	// TestExactAndEstimateByHand), 7 with 3.42e-7 ≤ 1e-6.
	s, err := Smallest(1e-6, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if s.Managers != 7 || len(s.Tried) != 4 || s.OverDockerAdvice() {
		t.Errorf("Smallest(1e-6, 0.01) = %d managers after %d odd counts (over Docker's advice: %v), want 7 after 4, within it", s.Managers, len(s.Tried), s.OverDockerAdvice())
	}
	// p=0.05 and 1e-9 need more than Docker's 7.
	if s, _ := Smallest(1e-9, 0.05); !s.OverDockerAdvice() {
		t.Errorf("Smallest(1e-9, 0.05) = %d, expected more than 7", s.Managers)
	}
	// p=0.01 and 1e-4: 3 managers give 2.98e-4 > 1e-4, 5 give 9.85e-6.
	if s, _ := Smallest(1e-4, 0.01); s.Managers != 5 {
		t.Errorf("Smallest(1e-4, 0.01) = %d, want 5", s.Managers)
	}
	// The answer is odd for every target: an even count never beats the
	// odd count below it.
	for _, target := range []float64{0.3, 0.1, 1e-2, 1e-3, 1e-5, 1e-8, 1e-12, 1e-15} {
		for _, p := range []float64{1e-4, 1e-3, 0.01, 0.05, 0.1} {
			s, err := Smallest(target, p)
			if err != nil {
				t.Fatalf("Smallest(%v, %v): %v", target, p, err)
			}
			if s.Managers%2 == 0 {
				t.Errorf("Smallest(%v, %v) = %d, an even count", target, p, s.Managers)
			}
			lt := math.Log(target)
			if s.Exact.Log() > lt+1e-12 || (s.Managers > 2 && Exact(s.Managers-2, p).Log() <= lt) {
				t.Errorf("Smallest(%v, %v) = %d is not the smallest meeting the target", target, p, s.Managers)
			}
		}
	}
	// p=½: every odd count loses quorum exactly half the time.
	if _, err := Smallest(1e-6, 0.5); err == nil {
		t.Error("Smallest(1e-6, 0.5) found a count; want an error")
	}
	for _, target := range []float64{0, 1, -1, math.NaN()} {
		if _, err := Smallest(target, 0.01); err == nil {
			t.Errorf("Smallest(%v, 0.01) accepted a bad target", target)
		}
	}
}
