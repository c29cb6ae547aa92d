package quorum_test

import (
	"fmt"

	"github.com/deckhand/deckhand/quorum"
)

// Five managers, each down 1% of the time.
func ExampleAnalyze() {
	a, err := quorum.Analyze(5, 0.01)
	if err != nil {
		panic(err)
	}
	fmt.Println("quorum:", a.Quorum, "tolerates:", a.Tolerance)
	fmt.Println("estimate (union bound):", a.Estimate)
	fmt.Println("exact:", a.Exact)
	// Output:
	// quorum: 3 tolerates: 2
	// estimate (union bound): 1.000e-05
	// exact: 9.851e-06
}

// One to nine managers side by side: an even count tolerates no more
// failures than the odd count below it.
func ExampleTable() {
	rows, err := quorum.Table(9, 0.01)
	if err != nil {
		panic(err)
	}
	for _, r := range rows {
		fmt.Println(r.Managers, r.Tolerance, r.Estimate, r.Exact)
	}
	// Output:
	// 1 0 1.000e-02 1.000e-02
	// 2 0 2.000e-02 1.990e-02
	// 3 1 3.000e-04 2.980e-04
	// 4 1 6.000e-04 5.920e-04
	// 5 2 1.000e-05 9.851e-06
	// 6 2 2.000e-05 1.955e-05
	// 7 3 3.500e-07 3.417e-07
	// 8 3 7.000e-07 6.779e-07
	// 9 4 1.260e-08 1.219e-08
}

// The fewest managers that lose quorum less than once in a million.
func ExampleSmallest() {
	s, err := quorum.Smallest(1e-6, 0.01)
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Managers, s.Exact, s.OverDockerAdvice())
	// Output: 7 3.417e-07 false
}

// Managers spread 2-2-1 over zones that each fail whole 0.1% of the time.
func ExampleAnalyzeZones() {
	a, err := quorum.AnalyzeZones(quorum.Spread{2, 2, 1}, 0.01, 0.001)
	if err != nil {
		panic(err)
	}
	fmt.Println(a.Spread, a.Exact, a.SurvivesZone)
	// Output: 2-2-1 7.269e-05 true
}

// The best spread of 3, 5, 7 and 9 managers over 3 zones, as Docker advises.
func ExampleBestSpread() {
	for _, n := range []int{3, 5, 7, 9} {
		b, err := quorum.BestSpread(n, 3, 0.01, 0.001)
		if err != nil {
			panic(err)
		}
		fmt.Println(n, b.Spread, b.Exact)
	}
	// Output:
	// 3 1-1-1 3.597e-04
	// 5 2-2-1 7.269e-05
	// 7 3-2-2 4.462e-05
	// 9 3-3-3 7.383e-06
}

// A node failing every 2000 hours and taking 4 hours to repair.
func ExampleFromMTBF() {
	mtbf, _ := quorum.ParseDuration("2000h")
	mttr, _ := quorum.ParseDuration("4h")
	p, err := quorum.FromMTBF(mtbf, mttr)
	if err != nil {
		panic(err)
	}
	fmt.Printf("p = %.6f\n", p)
	fmt.Println("3 managers:", quorum.Exact(3, p))
	fmt.Println("mtbf:", mtbf)
	// Output:
	// p = 0.001996
	// 3 managers: 1.194e-05
	// mtbf: 2000h0m0s
}

// 1000 managers at p = 1e-12: far below float64, still a number.
func ExampleExact() {
	p := quorum.Exact(1000, 1e-12)
	fmt.Println(p, p.Float(), p.Log10() < -5700)
	// Output: 2.703e-5701 0 true
}
