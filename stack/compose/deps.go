package compose

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

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

// DependencyError is a depends_on entry deckhand cannot honour.
type DependencyError struct {
	Dependant string     // key of the service whose entry it is
	Entry     Dependency // the entry
	Problem   string     // what is wrong with it and how to fix it
}

func (e *DependencyError) Error() string {
	return fmt.Sprintf("%s: service %q depends on %q: %s", e.Entry.Position, e.Dependant, e.Entry.Service, e.Problem)
}

// notInStack is the problem of an entry naming no service of the stack.
const notInStack = "it is not a service of the stack (services with profiles are not deployed): add it under services:, or remove the entry"

// takeDependencies moves depends_on from the project's services into
// s.DependsOn, with positions, so that it never reaches a rendered stack or
// a swarm spec. compose-go has refused cycles and required dependencies
// on undefined services already; an optional one (required: false) on a
// service that is not deployed is dropped with a warning, as compose skips
// it. Waiting for a service that is no job to complete is an error, as
// swarm never completes it.
func (s *Stack) takeDependencies(srcs []source) error {
	deps := map[string][]Dependency{}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(s.Project.Services)) {
		svc := s.Project.Services[key]
		for _, dep := range slices.Sorted(maps.Keys(svc.DependsOn)) {
			cond := Condition(svc.DependsOn[dep].Condition)
			if cond == "" {
				cond = ConditionStarted
			}
			d := Dependency{Service: dep, Condition: cond, Position: dependencyPosition(srcs, key, dep)}
			target, ok := s.Project.Services[dep]
			switch {
			case !ok:
				s.Warnings = append(s.Warnings, Warning{Position: d.Position, Service: key, Key: "depends_on",
					Message: fmt.Sprintf("service %q depends on %q, which is not deployed (it has profiles or is not defined) and not required (required: false): deckhand does not wait for it", key, dep)})
				continue
			case cond == ConditionCompleted && !isJob(target):
				errs = append(errs, &DependencyError{Dependant: key, Entry: d, Problem: fmt.Sprintf(
					"it waits for %q to complete (%s), which only a job does: give %q deploy.mode: replicated-job, or depend on it with condition: service_started or service_healthy", dep, cond, dep)})
			case cond == ConditionHealthy && healthcheckDisabled(target):
				errs = append(errs, &DependencyError{Dependant: key, Entry: d, Problem: fmt.Sprintf(
					"it waits for %q to be healthy (%s), whose healthcheck is disabled: give %q a healthcheck, or depend on it with condition: service_started", dep, cond, dep)})
			case cond == ConditionHealthy && target.HealthCheck == nil:
				// Its image may have a HEALTHCHECK, which the file cannot show.
				s.Warnings = append(s.Warnings, Warning{Position: d.Position, Service: key, Key: "depends_on",
					Message: fmt.Sprintf("service %q waits for %q to be healthy, which has no healthcheck in the file: swarm counts a task running only once its healthcheck passed, so this waits for health only if the image of %q has a HEALTHCHECK; otherwise it waits for its tasks to run", key, dep, dep)})
			}
			deps[key] = append(deps[key], d)
		}
		if svc.DependsOn != nil {
			svc.DependsOn = nil
			s.Project.Services[key] = svc
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(deps) > 0 {
		s.DependsOn = deps
	}
	return nil
}

// healthcheckDisabled reports whether a service turns off any healthcheck,
// its image's included (disable: true, or test: ["NONE"]).
func healthcheckDisabled(svc types.ServiceConfig) bool {
	hc := svc.HealthCheck
	return hc != nil && (hc.Disable || len(hc.Test) > 0 && hc.Test[0] == "NONE")
}

// isJob reports whether a service runs to completion: a replicated or
// global job.
func isJob(svc types.ServiceConfig) bool {
	return svc.Deploy != nil && (svc.Deploy.Mode == "replicated-job" || svc.Deploy.Mode == "global-job")
}

// undefinedRE matches compose-go's error for a required dependency on a
// service that is not in the project, which names no file or line.
var undefinedRE = regexp.MustCompile(`service "([^"]+)" depends on undefined service "([^"]+)"`)

// undefinedDependency turns compose-go's error for a dependency on an
// undefined service into a *DependencyError with the entry's position; nil
// when err is no such error.
func undefinedDependency(err error, srcs []source) *DependencyError {
	m := undefinedRE.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	return &DependencyError{Dependant: m[1], Entry: Dependency{Service: m[2], Position: dependencyPosition(srcs, m[1], m[2])}, Problem: notInStack}
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
