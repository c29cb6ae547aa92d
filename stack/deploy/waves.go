package deploy

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
)

// gates waits, before each wave, until the dependencies it names meet
// their conditions, within one deadline for the whole deploy.
type gates struct {
	api     WaitAPI
	live    map[string]swarm.Service     // the stack's services before the deploy, by name
	desired map[string]swarm.ServiceSpec // by name
	waves   []plan.Wave
	wait    WaitOptions
	out     io.Writer
	results []WaveResult
}

func newGates(api WaitAPI, prep *Prepared, o Options) *gates {
	g := &gates{api: api, live: map[string]swarm.Service{}, desired: prep.Desired.Services, waves: prep.Plan.Waves, out: o.Out,
		wait: WaitOptions{Interval: o.WaitInterval, PendingTimeout: o.PendingTimeout, Logger: o.Logger}}
	if prep.Live != nil {
		for _, s := range prep.Live.Services {
			g.live[s.Spec.Name] = s
		}
	}
	return g
}

// gate waits for wave i's conditions; a dependency that already meets its
// condition passes at once (no settle window).
func (g *gates) gate(ctx context.Context, i int, w plan.Wave, a *Applied) error {
	start := time.Now()
	g.results = append(g.results, WaveResult{Services: w.Services, WaitFor: w.WaitFor})
	defer func() { g.results[len(g.results)-1].WaitSeconds = time.Since(start).Round(time.Millisecond).Seconds() }()
	if len(w.WaitFor) == 0 {
		return nil
	}
	written := a.ServiceIDs()
	ids := map[string]string{}
	var what []string
	for _, gt := range w.WaitFor {
		// compose.Load refuses both problems below with file:line; these
		// checks only guard a plan built some other way.
		id, ok := written[gt.Service]
		if !ok {
			id, ok = g.live[gt.Service].ID, g.live[gt.Service].ID != ""
		}
		if !ok {
			return fmt.Errorf("wave %d waits for service %s (%s), which is neither in the swarm nor written by this deploy: deploy it first or drop the depends_on entry", i+1, gt.Service, gt.Condition)
		}
		if gt.Condition == compose.ConditionCompleted && !isJob(g.desired[gt.Service]) {
			return fmt.Errorf("wave %d waits for service %s to complete, but it is no job: give it deploy.mode: replicated-job, or depend on it with condition: service_started or service_healthy", i+1, gt.Service)
		}
		ids[gt.Service] = id
		what = append(what, gt.Service+" "+string(gt.Condition))
	}
	fmt.Fprintf(g.out, "Wave %d/%d: waiting for %s\n", i+1, len(g.waves), strings.Join(what, ", "))
	o := g.wait
	o.Progress = nil
	o.Settle = time.Millisecond // running (after its healthcheck) or completed is the condition
	if failed := failures(Wait(ctx, g.api, ids, o)); len(failed) > 0 {
		return fmt.Errorf("wave %d of %d (%s) not written: its dependencies did not meet their conditions: %s",
			i+1, len(g.waves), strings.Join(w.Services, ", "), strings.Join(failed, "; "))
	}
	return nil
}

// isJob reports whether a spec runs to completion (replicated or global job).
func isJob(spec swarm.ServiceSpec) bool {
	return spec.Mode.ReplicatedJob != nil || spec.Mode.GlobalJob != nil
}
