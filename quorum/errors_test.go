package quorum

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestErrorsNameQuantities: the math's errors name what is wrong in its
// own terms, never a command's flags, and Message lets a caller name the
// inputs its own way.
func TestErrorsNameQuantities(t *testing.T) {
	_, errMTBF := FromMTBF(0, time.Hour)
	_, errMTTR := FromMTBF(time.Hour, 0)
	_, errTarget := Smallest(2, 0.01)
	_, errUnreachable := Smallest(1e-6, 0.5)
	_, errFloor := SmallestZoned(1e-6, 3, 0.01, 0.001)
	_, errSpread := BestSpread(MaxSpreadManagers+1, 3, 0.01, 0)
	for _, tt := range []struct {
		err       error
		want      string
		quantity  Quantity
		flagNamed string
	}{
		{ValidateP(NodeDownP, 1.5), "node-down probability p 1.5 is not a probability: give a value from 0 to 1, such as 0.01", NodeDownP, "[node-down probability p] 1.5 is not"},
		{ValidateP(ZoneDownP, -1), "zone-down probability q -1 is not a probability", ZoneDownP, "[zone-down probability q] -1"},
		{errMTBF, "MTBF 0s must be positive: give the mean time between failures, such as 2000h", MTBF, "[MTBF] 0s"},
		{errMTTR, "MTTR 0s must be positive: give the mean time to repair, such as 4h", MTTR, "[MTTR] 0s"},
		{errTarget, "target probability 2 must be a probability above 0 and below 1, such as 1e-6", TargetP, "[target probability] 2"},
		{errUnreachable, "no manager count up to 1000 keeps the probability of losing quorum at or below 1e-06 with node-down probability p 0.5: lower node-down probability p (more reliable nodes) or accept a higher target probability", NodeDownP, "with [node-down probability p] 0.5"},
		{errFloor, "spread over 3 zones keeps the probability of losing quorum at or below 1e-06 with node-down probability p 0.01 and zone-down probability q 0.001", ZoneDownP, "lower [zone-down probability q] or accept a higher [target probability]"},
		{errSpread, "best spread of 26 managers: the search tries every spread and stops at 25 managers; give a smaller manager count", ManagerCount, "give a smaller [manager count]"},
	} {
		if tt.err == nil {
			t.Errorf("want an error about %s", tt.quantity)
			continue
		}
		msg := tt.err.Error()
		if !strings.Contains(msg, tt.want) || strings.Contains(msg, "--") {
			t.Errorf("error %q: want it to contain %q and no flag", msg, tt.want)
		}
		var ne NamedError
		if !errors.As(tt.err, &ne) {
			t.Errorf("error %q is not a NamedError", msg)
			continue
		}
		if got := ne.Message(func(q Quantity) string { return "[" + string(q) + "]" }); !strings.Contains(got, tt.flagNamed) {
			t.Errorf("Message with brackets = %q, want it to contain %q", got, tt.flagNamed)
		}
	}
}
