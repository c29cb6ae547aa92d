package plan

import (
	"cmp"
	"maps"
	"slices"

	"github.com/deckhand/deckhand/stack/compose"
)

// Gate is a condition a dependency must meet before a wave is written.
type Gate struct {
	Service   string            `json:"service"`   // swarm name of the dependency
	Condition compose.Condition `json:"condition"` // what the wave waits for
}

// Wave is a set of service writes applied together, after its gates.
type Wave struct {
	Services []string `json:"services"`           // swarm names of the services written, sorted
	WaitFor  []Gate   `json:"wait_for,omitempty"` // met before the wave is written
}

// Waves orders the changed services (swarm names) into waves by their
// dependencies (deps: service → its depends_on, by swarm name). A changed
// service goes one wave after the last of its changed dependencies; an
// unchanged dependency only adds a gate (met at once when it already holds),
// and passes on the waves of the changed services it depends on itself. It
// returns nil when no changed service waits for anything: the deploy is then
// one parallel write, as without depends_on. deps must have no cycle
// (compose.Load refuses them).
func Waves(deps map[string][]compose.Dependency, changed []string) []Wave {
	if len(deps) == 0 || len(changed) == 0 {
		return nil
	}
	isChanged := map[string]bool{}
	for _, s := range changed {
		isChanged[s] = true
	}
	// ready is the first wave a dependant of s can go in.
	ready := map[string]int{}
	var level func(s string, seen map[string]bool) int
	level = func(s string, seen map[string]bool) int {
		if r, ok := ready[s]; ok {
			return r
		}
		if seen[s] {
			return 0 // a cycle: Load refuses them, never loop
		}
		seen[s] = true
		w := 0
		for _, d := range deps[s] {
			w = max(w, level(d.Service, seen))
		}
		if isChanged[s] {
			w++ // its dependants go in the wave after its own
		}
		ready[s] = w
		return w
	}
	byWave := map[int][]string{}
	gates := map[int]map[Gate]bool{}
	for _, s := range changed {
		w := 0
		for _, d := range deps[s] {
			w = max(w, level(d.Service, map[string]bool{}))
		}
		byWave[w] = append(byWave[w], s)
		for _, d := range deps[s] {
			if gates[w] == nil {
				gates[w] = map[Gate]bool{}
			}
			gates[w][Gate{Service: d.Service, Condition: d.Condition}] = true
		}
	}
	if len(gates) == 0 {
		return nil
	}
	var out []Wave
	for _, w := range slices.Sorted(maps.Keys(byWave)) {
		wave := Wave{Services: slices.Sorted(slices.Values(byWave[w]))}
		wave.WaitFor = slices.SortedFunc(maps.Keys(gates[w]), func(a, b Gate) int {
			return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Condition, b.Condition))
		})
		out = append(out, wave)
	}
	return out
}
