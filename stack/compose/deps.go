package compose

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Condition is what a service waits for of a dependency before it is written.
type Condition string

// Conditions of depends_on, as the compose specification spells them.
const (
	ConditionStarted   Condition = "service_started"                // tasks running
	ConditionHealthy   Condition = "service_healthy"                // tasks running after their healthcheck passed
	ConditionCompleted Condition = "service_completed_successfully" // a job whose tasks completed
)

// Dependency is one depends_on entry of a service.
type Dependency struct {
	Service   string    // key of the service depended on
	Condition Condition // what the dependant waits for
	Position  Position  // where the entry is written
}

// CycleError is a depends_on cycle, each edge with its position.
type CycleError struct {
	Services []string     // the cycle, its first service repeated at the end
	Edges    []Dependency // Edges[i] is the entry of Services[i] on Services[i+1]
}

func (e *CycleError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "depends_on cycle %s: deckhand cannot order these services; remove one of these entries:", strings.Join(e.Services, " -> "))
	for i, d := range e.Edges {
		fmt.Fprintf(&b, "\n  %s: service %q depends on %q", d.Position, e.Services[i], d.Service)
	}
	return b.String()
}

// takeDependencies moves depends_on from the project's services into
// s.DependsOn, with positions, so that it never reaches a rendered stack or
// a swarm spec. compose-go has refused cycles already.
func (s *Stack) takeDependencies(srcs []source) {
	deps := map[string][]Dependency{}
	for key, svc := range s.Project.Services {
		if len(svc.DependsOn) == 0 {
			continue
		}
		for _, dep := range slices.Sorted(maps.Keys(svc.DependsOn)) {
			cond := Condition(svc.DependsOn[dep].Condition)
			if cond == "" {
				cond = ConditionStarted
			}
			deps[key] = append(deps[key], Dependency{Service: dep, Condition: cond, Position: dependencyPosition(srcs, key, dep)})
		}
		svc.DependsOn = nil
		s.Project.Services[key] = svc
	}
	if len(deps) > 0 {
		s.DependsOn = deps
	}
}

// dependencyPosition is where service key names dep under depends_on: the
// entry in the long form, the depends_on key in the short form.
func dependencyPosition(srcs []source, key, dep string) Position {
	for _, path := range []string{"services." + key + ".depends_on." + dep, "services." + key + ".depends_on"} {
		for i := len(srcs) - 1; i >= 0; i-- {
			if n := nodeAt(documentMapping(srcs[i].root), strings.Split(path, ".")); n != nil {
				return Position{File: srcs[i].display, Line: n.Line, Column: n.Column}
			}
		}
	}
	return Position{File: srcs[len(srcs)-1].display}
}

// cycleRE matches compose-go's cycle error, which names no file or line.
var cycleRE = regexp.MustCompile(`dependency cycle detected: ([^:]+?)(?::|$)`)

// cycleError turns compose-go's cycle error into a *CycleError with the
// position of each edge, the cycle started at its first service in key
// order so the message is stable; nil when err is no cycle error.
func cycleError(err error, srcs []source) *CycleError {
	m := cycleRE.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	names := strings.Split(m[1], " -> ")
	if len(names) < 2 || names[0] != names[len(names)-1] {
		return nil
	}
	ring := names[:len(names)-1]
	start := slices.Index(ring, slices.Min(ring))
	ring = append(slices.Clone(ring[start:]), ring[:start]...)
	c := &CycleError{Services: append(ring, ring[0])}
	for i := range ring {
		c.Edges = append(c.Edges, Dependency{Service: c.Services[i+1], Position: dependencyPosition(srcs, c.Services[i], c.Services[i+1])})
	}
	return c
}
