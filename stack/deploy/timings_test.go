package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTimingsRecordPhasesInTheOrderTheyStarted(t *testing.T) {
	var none *Timings
	none.Begin("ignored")() // a nil record times nothing and does not panic
	if none.Phases() != nil {
		t.Error("a nil record has phases")
	}
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tm := NewTimings(origin)
	tm.Add("load", origin.Add(2*time.Millisecond), origin.Add(40*time.Millisecond))
	tm.Add("connect", origin.Add(time.Millisecond), origin.Add(1500*time.Microsecond))
	raw, err := json.Marshal(tm.Phases())
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"phase":"connect","start_ms":1,"ms":0.5},{"phase":"load","start_ms":2,"ms":38}]`; string(raw) != want {
		t.Errorf("json = %s, want %s", raw, want)
	}
}

// TestDeployTimesItsPhases: a deploy with a record times its engine reads,
// every registry lookup, the plan, the apply and the wait.
func TestDeployTimesItsPhases(t *testing.T) {
	var out bytes.Buffer
	o := testOptions(&out)
	o.Timings = NewTimings(time.Now())
	if _, err := Deploy(context.Background(), engineWithImage(), loadInput(t, "demo", "simple.yml", nil), o); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range o.Timings.Phases() {
		names = append(names, p.Phase)
	}
	for _, want := range []string{"nodes and quorum", "live read", "registry " + testImage, "convert", "plan", "apply", "wait"} {
		if !slices.Contains(names, want) {
			t.Errorf("no phase %q in %s", want, strings.Join(names, ", "))
		}
	}
}
