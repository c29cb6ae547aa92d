package quorum

import "math"

// Sizing is the smallest manager count whose probability of losing quorum
// meets a target.
type Sizing struct {
	Target   float64    // the highest probability of losing quorum accepted
	P        float64    // one node's probability of being down
	Managers int        // the smallest N that meets Target
	Exact    Prob       // its probability of losing quorum
	Tried    []Analysis // every odd count from 1 to Managers, for context
	// Zones is how many zones the managers spread over (0: no zones);
	// with zones, every count is spread at its best and Spreads lists the
	// best spread of every odd count tried.
	Zones   int
	ZoneP   float64        // one zone's probability of being down
	Spreads []ZoneAnalysis // with zones: the best spread of every odd count tried
}

// OverDockerAdvice reports whether the answer exceeds Docker's advice of
// at most 7 managers.
func (s Sizing) OverDockerAdvice() bool { return s.Managers > DockerMaxManagers }

// ValidateTarget checks that target is a probability strictly between 0
// and 1; if not, the error is a *RangeError.
func ValidateTarget(target float64) error {
	if math.IsNaN(target) || target <= 0 || target >= 1 {
		return &RangeError{Quantity: TargetP, Value: target}
	}
	return nil
}

// Smallest finds the smallest manager count N with Exact(N, p) ≤ target.
//
// Only odd counts can be the answer: 2K+2 managers tolerate K failures,
// like 2K+1, but have one more node that can fail, so they lose quorum
// more often. Smallest still checks every count and lists the odd ones.
// When no count up to MaxManagers meets target, the error is an
// *UnreachableError.
func Smallest(target, p float64) (Sizing, error) {
	if err := ValidateTarget(target); err != nil {
		return Sizing{}, err
	}
	if err := ValidateP(NodeDownP, p); err != nil {
		return Sizing{}, err
	}
	s := Sizing{Target: target, P: p}
	lnTarget := math.Log(target)
	for n := 1; n <= MaxManagers; n++ {
		a, err := Analyze(n, p)
		if err != nil {
			return Sizing{}, err
		}
		if n%2 == 1 {
			s.Tried = append(s.Tried, a)
		}
		if a.Exact.Log() <= lnTarget {
			s.Managers, s.Exact = n, a.Exact
			return s, nil
		}
	}
	return Sizing{}, &UnreachableError{Target: target, P: p, Tried: MaxManagers}
}

// SmallestZoned finds the smallest manager count that, spread at its best
// over z zones each down as a whole with probability q, meets target.
// Whole-zone failures set a floor no manager count can beat (with 3 zones,
// any 2 of them down hold a majority), so the target may be out of reach:
// the error is then an *UnreachableError.
func SmallestZoned(target float64, z int, p, q float64) (Sizing, error) {
	if err := ValidateTarget(target); err != nil {
		return Sizing{}, err
	}
	s := Sizing{Target: target, P: p, Zones: z, ZoneP: q}
	lnTarget := math.Log(target)
	for n := 1; n <= MaxSpreadManagers; n++ {
		za, err := BestSpread(n, z, p, q)
		if err != nil {
			return Sizing{}, err
		}
		if n%2 == 1 {
			a, err := Analyze(n, p)
			if err != nil {
				return Sizing{}, err
			}
			s.Tried = append(s.Tried, a)
			s.Spreads = append(s.Spreads, za)
		}
		if za.Exact.Log() <= lnTarget {
			s.Managers, s.Exact = n, za.Exact
			return s, nil
		}
	}
	return Sizing{}, &UnreachableError{Target: target, P: p, Zones: z, ZoneP: q, Tried: MaxSpreadManagers}
}
