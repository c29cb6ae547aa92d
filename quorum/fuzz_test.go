package quorum

import (
	"strconv"
	"strings"
	"testing"
)

func FuzzParseZones(f *testing.F) {
	for _, s := range []string{"2,2,1", "5", "3, 2 ,2", "", "2,,1", "0", "-1", "1,1,1,1,1,1,1,1,1,1", "999,2", "+3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spread, err := ParseZones(s)
		if err != nil {
			if spread != nil {
				t.Fatalf("ParseZones(%q) returned %v with error %v", s, spread, err)
			}
			return
		}
		if len(spread) == 0 || len(spread) > MaxZones {
			t.Fatalf("ParseZones(%q) = %v: %d zones", s, spread, len(spread))
		}
		for _, c := range spread {
			if c <= 0 {
				t.Fatalf("ParseZones(%q) = %v: empty zone", s, spread)
			}
		}
		if n := spread.Managers(); n < 1 || n > MaxManagers {
			t.Fatalf("ParseZones(%q) = %v: %d managers", s, spread, n)
		}
		// The canonical form parses back to the same spread.
		parts := make([]string, len(spread))
		for i, c := range spread {
			parts[i] = strconv.Itoa(c)
		}
		again, err := ParseZones(strings.Join(parts, ","))
		if err != nil || again.String() != spread.String() {
			t.Fatalf("ParseZones(%q) = %v does not round-trip: %v, %v", s, spread, again, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"2000h", "30m", "7d", "1.5h", "1w2d", "250ms", "", "4", "-4h", "1e5h", "99999999w", "0.0000001ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v: negative", s, d)
		}
		// Any accepted duration gives a probability in [0, 1] with a
		// positive partner figure.
		if d > 0 {
			p, err := FromMTBF(d, d)
			if err != nil || p < 0 || p > 1 {
				t.Fatalf("FromMTBF(%v, %v) = %v, %v", d, d, p, err)
			}
		}
		// Whole milliseconds written back parse to the same duration.
		if d%1e6 == 0 {
			again, err := ParseDuration(strconv.FormatInt(d.Milliseconds(), 10) + "ms")
			if err != nil || again != d {
				t.Fatalf("ParseDuration(%q) = %v does not round-trip: %v, %v", s, d, again, err)
			}
		}
	})
}
