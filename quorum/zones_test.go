package quorum

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// enumerateZones is the probability of losing quorum computed the plain
// way, as an independent reference for the convolution in logZoneTail:
// for each of the 2^Z zone outcomes, the managers of the failed zones are
// down and the binomial tail of the rest decides.
func enumerateZones(spread Spread, p, q float64) float64 {
	n := spread.Managers()
	need := Tolerance(n) + 1
	total := 0.0
	for mask := 0; mask < 1<<len(spread); mask++ {
		prob, down := 1.0, 0
		for z, c := range spread {
			if mask&(1<<z) != 0 {
				prob *= q
				down += c
			} else {
				prob *= 1 - q
			}
		}
		rest, more := n-down, need-down
		if more <= 0 {
			total += prob
			continue
		}
		tail := 0.0
		for i := more; i <= rest; i++ {
			c, _ := new(big.Int).Binomial(int64(rest), int64(i)).Float64()
			tail += c * math.Pow(p, float64(i)) * math.Pow(1-p, float64(rest-i))
		}
		total += prob * tail
	}
	return total
}

func TestZoneExactByHand(t *testing.T) {
	tests := []struct {
		name   string
		spread Spread
		p, q   float64
		want   float64
	}{
		// p=0: quorum (2 of 3) is lost iff at least 2 zones are down:
		// 3·q²·(1−q) + q³ = 3·0.01·0.9 + 0.001 = 0.028.
		{"1-1-1 zones only", Spread{1, 1, 1}, 0, 0.1, 0.028},
		// K=2, 3 must be down: any 2 zones hold ≥ 3 managers ({A,B}=4,
		// {A,C}=3, {B,C}=3), one zone at most 2: again 0.028.
		{"2-2-1 zones only", Spread{2, 2, 1}, 0, 0.1, 0.028},
		// 3-1-1: zone A alone holds 3 = K+1; B and C together only 2, so
		// quorum is lost iff A is down: q = 0.1 (though 2-2-1 needs two zones).
		{"3-1-1 zones only", Spread{3, 1, 1}, 0, 0.1, 0.1},
		// One zone: down (q) or up and then 3 managers with p:
		// q + (1−q)·(3p²(1−p) + p³) = 0.1 + 0.9·2.98e-4 = 0.1002682.
		{"one zone of 3", Spread{3}, 0.01, 0.1, 0.1002682},
		// 1-1-1 with both: lost iff ≥ 2 managers down, each manager down
		// with r = q + (1−q)·p independently (one per zone): r = 0.1 +
		// 0.9·0.01 = 0.109; 3r²(1−r) + r³ = 3·0.011881·0.891 + 0.001295029
		// = 0.031757913 + 0.001295029 = 0.033052942.
		{"1-1-1 both", Spread{1, 1, 1}, 0.01, 0.1, 0.033052942},
		// q=0 is the binomial of 5 at p=0.01: 9.8506e-6.
		{"2-2-1 nodes only", Spread{2, 2, 1}, 0.01, 0, 9.8506e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := AnalyzeZones(tt.spread, tt.p, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Exact.Float(); !near(got, tt.want, 1e-5) {
				t.Errorf("exact = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestZoneExactMatchesEnumeration(t *testing.T) {
	// A seeded property test: random spreads of up to 6 zones and 25
	// managers against the 2^Z enumeration.
	r := rand.New(rand.NewPCG(7, 5))
	for range 300 {
		z := 1 + r.IntN(6)
		spread := make(Spread, z)
		for i := range spread {
			spread[i] = 1 + r.IntN(5)
		}
		p := math.Pow(10, -4+4*r.Float64()) / 2
		q := math.Pow(10, -4+4*r.Float64()) / 2
		got := ZoneExact(spread, p, q).Float()
		want := enumerateZones(spread, p, q)
		if !near(got, want, 1e-9) {
			t.Errorf("%s p=%g q=%g: %v, enumeration says %v", spread, p, q, got, want)
		}
	}
}

func TestZoneInvariants(t *testing.T) {
	spreads := []Spread{{1}, {2, 1}, {1, 1, 1}, {2, 2, 1}, {3, 2, 2}, {3, 3, 3}, {4, 1}, {2, 2, 2, 1}}
	for _, s := range spreads {
		for _, p := range []float64{1e-12, 1e-6, 1e-3, 0.01, 0.1, 0.5} {
			// Without zone failures the spread does not matter.
			if got, want := ZoneExact(s, p, 0), Exact(s.Managers(), p); !sameProb(got.Log(), want.Log()) {
				t.Errorf("%s p=%v q=0: %v, want the plain %v", s, p, got, want)
			}
			prev := ZoneExact(s, p, 0)
			for _, q := range []float64{1e-9, 1e-6, 1e-3, 0.01, 0.1, 0.5} {
				// Zone failures only add to node failures, and more so as q rises.
				got := ZoneExact(s, p, q)
				if got.Less(prev) || got.Log() > 1e-12 {
					t.Errorf("%s p=%v q=%v: %v is below %v or above 1", s, p, q, got, prev)
				}
				prev = got
			}
		}
	}
	// Every zone down: quorum is lost for sure.
	if got := ZoneExact(Spread{2, 2, 1}, 0, 1).Float(); got != 1 {
		t.Errorf("q=1: %v, want 1", got)
	}
}

func TestBestSpreadDockerGuidance(t *testing.T) {
	// Docker's guidance for 3 zones; the optimiser agrees for every p ≤ 0.1
	// and q ≤ 0.2 on this grid (see BestSpread for where it does not).
	want := map[int]string{3: "1-1-1", 5: "2-2-1", 7: "3-2-2", 9: "3-3-3"}
	for _, p := range []float64{0, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1} {
		for _, q := range []float64{0, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2} {
			for _, n := range []int{3, 5, 7, 9} {
				b, err := BestSpread(n, 3, p, q)
				if err != nil {
					t.Fatal(err)
				}
				if got := b.Spread.String(); got != want[n] {
					t.Errorf("p=%v q=%v: best spread of %d is %s (%v), Docker says %s", p, q, n, got, b.Exact, want[n])
				}
				if !b.SurvivesZone {
					t.Errorf("best spread of %d does not survive one zone", n)
				}
			}
		}
	}
}

func TestBestSpreadWhereItDisagrees(t *testing.T) {
	// 5 managers, p=0.1, q=0.3. By hand, with exact(5, 0.1) = 0.00856:
	// 5-0-0: q + (1−q)·0.00856 = 0.3 + 0.7·0.00856 = 0.30599.
	// 2-2-1: two or more zones down, 3q²(1−q)+q³ = 0.216, always lost;
	// exactly one 2-zone down (q(1−q)² = 0.147 each) leaves 3, of which 1
	// more must fail: 1−0.9³ = 0.271; exactly the 1-zone down (0.147)
	// leaves 4, of which 2 must fail: 1−0.9⁴−4·0.1·0.9³ = 0.0523; no zone
	// down (0.343): 0.00856. Total 0.216 + 2·0.147·0.271 + 0.147·0.0523 +
	// 0.343·0.00856 = 0.3063: a single zone wins by a hair.
	one := ZoneExact(Spread{5}, 0.1, 0.3).Float()
	spread := ZoneExact(Spread{2, 2, 1}, 0.1, 0.3).Float()
	if !near(one, 0.30599, 1e-4) || !near(spread, 0.3063, 1e-3) {
		t.Errorf("5-0-0: %v (want 0.30599), 2-2-1: %v (want 0.3063)", one, spread)
	}
	b, err := BestSpread(5, 3, 0.1, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if b.Spread.String() != "5-0-0" {
		t.Errorf("best spread = %s, want 5-0-0", b.Spread)
	}
}

func TestBestSpreadIsTheMinimum(t *testing.T) {
	// The result is no worse than any spread it could have chosen, and
	// among equals (q=0) it is the most even.
	for n := 1; n <= 12; n++ {
		for z := 1; z <= 4; z++ {
			b, err := BestSpread(n, z, 0.01, 0.001)
			if err != nil {
				t.Fatal(err)
			}
			if b.Spread.Managers() != n || len(b.Spread) != z || !slices.IsSortedFunc(b.Spread, func(a, b int) int { return b - a }) {
				t.Fatalf("BestSpread(%d, %d) = %s: not %d managers over %d zones, largest first", n, z, b.Spread, n, z)
			}
			partitions(n, z, n, nil, func(parts []int) {
				if ZoneExact(parts, 0.01, 0.001).Log() < b.Exact.Log()-1e-9 {
					t.Errorf("BestSpread(%d, %d) = %s, but %v is better", n, z, b.Spread, parts)
				}
			})
			even, err := BestSpread(n, z, 0.01, 0)
			if err != nil {
				t.Fatal(err)
			}
			if even.Spread[0]-even.Spread[z-1] > 1 {
				t.Errorf("q=0: BestSpread(%d, %d) = %s, want the most even spread", n, z, even.Spread)
			}
		}
	}
}

func TestBestSpreadRejectsBadInput(t *testing.T) {
	tests := []struct {
		n, z int
		p, q float64
	}{
		{0, 3, 0.01, 0.001}, {MaxSpreadManagers + 1, 3, 0.01, 0.001}, {5, 0, 0.01, 0.001},
		{5, MaxZones + 1, 0.01, 0.001}, {5, 3, -1, 0.001}, {5, 3, 0.01, 2},
	}
	for _, tt := range tests {
		if _, err := BestSpread(tt.n, tt.z, tt.p, tt.q); err == nil {
			t.Errorf("BestSpread(%d, %d, %v, %v) accepted bad input", tt.n, tt.z, tt.p, tt.q)
		}
	}
}

func TestSmallestZoned(t *testing.T) {
	// p=0.01, q=1e-4, 3 zones, target 1e-5. From the best spreads:
	// 3 (1-1-1) ≈ 3p² + 6pq·… ≈ 3e-4: no; 5 (2-2-1): zone A or B down
	// (2q) and 1 of 3 more (3p) ≈ 6e-6, C down (q) and 2 of 4 (6p²) and
	// two zones (3q²), plus 1e-5 from nodes alone: ≈ 1.6e-5: no;
	// 7 (3-2-2): node term 3.4e-7 plus zone A (q) and 1 of 4 (4p) ≈ 4e-6: yes.
	s, err := SmallestZoned(1e-5, 3, 0.01, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	if s.Managers != 7 || s.Spreads[len(s.Spreads)-1].Spread.String() != "3-2-2" {
		t.Errorf("SmallestZoned = %d managers as %s, want 7 as 3-2-2", s.Managers, s.Spreads[len(s.Spreads)-1].Spread)
	}
	// Two of three zones down (≈ 3q² = 3e-6) always lose quorum: a target
	// of 1e-6 is out of reach with q = 1e-3.
	if _, err := SmallestZoned(1e-6, 3, 0.01, 1e-3); err == nil {
		t.Error("SmallestZoned(1e-6, 3 zones, q=1e-3) met a target below the zone floor")
	}
}

func TestParseZones(t *testing.T) {
	good := map[string]Spread{
		"2,2,1":             {2, 2, 1},
		"5":                 {5},
		" 3 , 2,2 ":         {3, 2, 2},
		"1,1,1,1,1,1,1,1,1": {1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
	for in, want := range good {
		got, err := ParseZones(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseZones(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "2,,1", "2,0,1", "2,-1", "a,b", "2;2;1", "2-2-1", "1,1,1,1,1,1,1,1,1,1", "1001", "600,600", "1.5,2"} {
		if got, err := ParseZones(in); err == nil {
			t.Errorf("ParseZones(%q) = %v, want an error", in, got)
		}
	}
}
