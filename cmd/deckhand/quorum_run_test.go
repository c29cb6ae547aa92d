package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/deckhand/deckhand/quorum"
)

// TestQuorumFlagError: errors of the quorum math name quantities; the
// command names the flags that gave them, keeps what wraps them, and
// leaves other errors alone.
func TestQuorumFlagError(t *testing.T) {
	target := &quorum.RangeError{Quantity: quorum.TargetP, Value: 2.0}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{quorum.ValidateP(quorum.ZoneDownP, 3), "--zone-p 3 is not a probability: give a value from 0 to 1, such as 0.01"},
		{fmt.Errorf("sizing: %w", target), "sizing: --target 2 must be a probability above 0 and below 1, such as 1e-6"},
		{&quorum.SpreadLimitError{Managers: 30}, "best spread of 30 managers: the search tries every spread and stops at 25 managers; give a smaller --managers"},
		{errors.New("manager count 0 is out of range"), "manager count 0 is out of range"},
	} {
		got := quorumFlagError(tt.err)
		if got.Error() != tt.want {
			t.Errorf("quorumFlagError(%q) = %q, want %q", tt.err, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("quorumFlagError(%q) no longer wraps it", tt.err)
		}
	}
	if quorumFlagError(nil) != nil {
		t.Error("quorumFlagError(nil) must be nil")
	}
}
