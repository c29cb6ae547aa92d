package deploy

import (
	"cmp"
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// Timings records the phases of a plan, deploy or rollback: when each
// started, counted from an origin, and how long it took. Phases that run
// concurrently overlap. A nil *Timings records nothing, so callers time
// their phases unconditionally.
type Timings struct {
	origin time.Time
	mu     sync.Mutex
	phases []Timing
}

// NewTimings starts a record whose phases are counted from origin.
func NewTimings(origin time.Time) *Timings { return &Timings{origin: origin} }

// Timing is one recorded phase.
type Timing struct {
	Phase    string
	Start    time.Duration // since the origin
	Duration time.Duration
}

// MarshalJSON writes a phase as {"phase", "start_ms", "ms"}, to 0.1 ms.
func (t Timing) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 {
		return float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond)
	}
	return json.Marshal(struct {
		Phase   string  `json:"phase"`
		StartMS float64 `json:"start_ms"`
		MS      float64 `json:"ms"`
	}{t.Phase, ms(t.Start), ms(t.Duration)})
}

// Begin starts timing phase now; calling the returned function ends it.
func (t *Timings) Begin(phase string) (end func()) {
	if t == nil {
		return func() {}
	}
	start := time.Now()
	return func() { t.Add(phase, start, time.Now()) }
}

// Add records a phase that ran from start to end.
func (t *Timings) Add(phase string, start, end time.Time) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.phases = append(t.phases, Timing{Phase: phase, Start: start.Sub(t.origin), Duration: end.Sub(start)})
}

// Phases returns the recorded phases in the order they started.
func (t *Timings) Phases() []Timing {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := slices.Clone(t.phases)
	slices.SortStableFunc(out, func(a, b Timing) int { return cmp.Compare(a.Start, b.Start) })
	return out
}
