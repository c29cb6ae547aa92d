package quorum

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationUnits are the units ParseDuration accepts.
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
}

// ParseDuration parses an availability figure such as "2000h", "30m",
// "7d", "1.5h" or "1w2d": decimal numbers each followed by a unit (ms, s,
// m, h, d = 24h, w = 7d). Unlike time.ParseDuration it knows days and
// weeks and refuses negative or unit-less values.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("duration %q is empty: give a number and a unit, such as 2000h, 30m or 7d", s)
	}
	var total float64
	for rest := in; rest != ""; {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration %q: expected a number at %q; give a number and a unit, such as 2000h, 30m or 7d", s, rest)
		}
		num, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %q is not a number; give a number and a unit, such as 2000h, 30m or 7d", s, rest[:i])
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && rest[j] >= 'a' && rest[j] <= 'z' {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		var scale time.Duration
		for _, u := range durationUnits {
			if u.name == unit {
				scale = u.d
			}
		}
		if scale == 0 {
			if unit == "" {
				return 0, fmt.Errorf("duration %q: %v has no unit; add one of ms, s, m, h, d, w, such as %vh", s, num, num)
			}
			return 0, fmt.Errorf("duration %q: unknown unit %q; use one of ms, s, m, h, d, w", s, unit)
		}
		total += num * float64(scale)
	}
	if total >= math.MaxInt64 || math.IsInf(total, 0) {
		return 0, fmt.Errorf("duration %q is too long: give less than 290 years", s)
	}
	return time.Duration(total), nil
}

// FromMTBF is one node's probability of being down given its mean time
// between failures and mean time to repair: P = MTTR / (MTBF + MTTR), the
// fraction of time it spends down. A duration that is not positive is a
// *RangeError.
func FromMTBF(mtbf, mttr time.Duration) (float64, error) {
	if mtbf <= 0 {
		return 0, &RangeError{Quantity: MTBF, Value: mtbf}
	}
	if mttr <= 0 {
		return 0, &RangeError{Quantity: MTTR, Value: mttr}
	}
	return mttr.Seconds() / (mtbf.Seconds() + mttr.Seconds()), nil
}
