package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
)

// Deploy prepares, applies and (with Wait) waits for a loaded stack. With
// Atomic, any failure undoes every write of this run. A failure to converge
// is a *NotConvergedError.
func Deploy(ctx context.Context, api API, st *compose.Stack, o Options) (*Result, error) {
	return DeployFrom(ctx, api, st.Name, func() (*compose.Stack, error) { return st, nil }, o)
}

// Failed is the result of a run that failed before it wrote anything.
func Failed(namespace string, err error) (*Result, error) {
	return &Result{Stack: namespace, Changes: []plan.Change{}, Services: []ServiceResult{}, Outcome: OutcomeFailed, Error: err.Error()}, err
}

// Current reports whether the live stack is still what p was made from:
// the same networks, and the same versions of its configs, secrets and
// services. A caller that prepared before it took the stack's lock asks
// this once it holds the lock.
func Current(ctx context.Context, api ReadAPI, namespace string, p *Prepared) (bool, error) {
	live, err := ReadLive(ctx, api, namespace)
	if err != nil {
		return false, err
	}
	return liveVersions(live) == liveVersions(p.Live), nil
}

// liveVersions lists every object of a live stack with its version, sorted.
func liveVersions(l *plan.Live) string {
	var v []string
	for _, n := range l.Networks {
		v = append(v, "network "+n.ID)
	}
	for _, c := range l.Configs {
		v = append(v, fmt.Sprintf("config %s %d", c.ID, c.Version.Index))
	}
	for _, s := range l.Secrets {
		v = append(v, fmt.Sprintf("secret %s %d", s.ID, s.Version.Index))
	}
	for _, s := range l.Services {
		v = append(v, fmt.Sprintf("service %s %d", s.ID, s.Version.Index))
	}
	slices.Sort(v)
	return strings.Join(v, "\n")
}

// DeployFrom is Deploy for a stack that is still to be loaded (see PrepareFrom).
func DeployFrom(ctx context.Context, api API, namespace string, source Source, o Options) (*Result, error) {
	o.defaults()
	log := o.Logger.With("component", "deploy", "stack", namespace)
	prep, err := o.prepare(ctx, api, namespace, source)
	if err != nil {
		return Failed(namespace, err)
	}
	res := &Result{Stack: namespace, Changes: []plan.Change{}, Services: []ServiceResult{}}
	pl := prep.Plan
	res.Changes = pl.Changes
	res.Warnings = append(res.Warnings, prep.Warnings...)
	for _, name := range pl.Unchanged {
		res.Services = append(res.Services, ServiceResult{Service: name, Action: ActionUnchanged, Outcome: OutcomeUnchanged,
			Image: prep.Desired.Services[name].TaskTemplate.ContainerSpec.Image})
	}
	if !pl.HasChanges() {
		res.Outcome = OutcomeNoChanges
		sortResults(res)
		return res, nil
	}
	run, err := beginRevision(ctx, api, namespace, prep, o)
	if err != nil {
		res.Outcome, res.Error = OutcomeFailed, err.Error()
		return res, err
	}
	defer run.finish(ctx, res)
	authFor := func(image string) string {
		if !o.WithRegistryAuth || o.Auth == nil {
			return ""
		}
		v, err := o.Auth(image)
		if err != nil {
			log.Warn("no registry credentials", "image", image, "error", err)
			return ""
		}
		return v
	}
	ao := ApplyOptions{Parallel: o.Parallel, Auth: authFor, Out: o.Out, Logger: o.Logger}
	writes := &plan.Plan{Stack: pl.Stack, Changes: withoutObjectRemovals(pl.Changes), Waves: pl.Waves}
	// With waves, --timeout bounds the whole deploy: every gate and the wait.
	waitCtx := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, o.Timeout) }
	var g *gates
	if len(pl.Waves) > 0 {
		dctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		waitCtx = func() (context.Context, context.CancelFunc) { return dctx, func() {} }
		g = newGates(api, prep, o)
		ao.Gate = func(_ context.Context, i int, w plan.Wave, a *Applied) error { return g.gate(dctx, i, w, a) }
	}
	endApply := o.Timings.Begin("apply")
	applied, applyErr := Apply(ctx, api, writes, ao)
	endApply()
	if g != nil {
		res.Waves = g.results
	}
	images := map[string]string{}
	for _, c := range pl.Changes {
		if c.Service != nil {
			images[c.Name] = c.Service.TaskTemplate.ContainerSpec.Image
		}
	}
	if applyErr != nil {
		res.Outcome, res.Error = OutcomeFailed, applyErr.Error()
		res.Services = append(res.Services, appliedResults(applied, images, nil)...)
		msg := "the stack is partly applied; fix the problem and deploy again, or use --atomic"
		if o.Atomic {
			res.Undone, msg = undoAndWait(api, applied, ao, o)
		}
		sortResults(res)
		return res, fmt.Errorf("deploy stack %q: %w; %s", namespace, applyErr, msg)
	}
	ids := applied.ServiceIDs()
	var outcomes []ServiceOutcome
	if o.Wait && len(ids) > 0 {
		endWait := o.Timings.Begin("wait")
		wctx, cancel := waitCtx()
		outcomes = Wait(wctx, api, ids, WaitOptions{Progress: o.Progress, Interval: o.WaitInterval, Settle: o.Settle, PendingTimeout: o.PendingTimeout, Logger: o.Logger})
		cancel()
		endWait()
	}
	res.Services = append(res.Services, appliedResults(applied, images, outcomes)...)
	failed := failures(outcomes)
	if len(failed) > 0 {
		res.Outcome = OutcomeNotConverged
		msg := "check the task errors with docker service ps --no-trunc"
		if o.Atomic {
			res.Undone, msg = undoAndWait(api, applied, ao, o)
		}
		err := fmt.Errorf("stack %q did not converge:\n  %s\n%s", namespace, strings.Join(failed, "\n  "), msg)
		res.Error = err.Error()
		sortResults(res)
		return res, &NotConvergedError{Err: err}
	}
	// Old config/secret versions can only go once no service uses them.
	for _, c := range pl.Changes {
		if c.Action != plan.ActionRemove || c.Kind == plan.KindService {
			continue
		}
		if _, err := applyChange(ctx, api, c, ao); err != nil {
			res.Warnings = append(res.Warnings, err.Error())
			log.Warn("prune failed", "kind", c.Kind, "name", c.Name, "error", err)
			continue
		}
		fmt.Fprintf(o.Out, "Removing %s %s\n", c.Kind, c.Name)
	}
	res.Outcome = OutcomeConverged
	if !o.Wait {
		res.Outcome = OutcomeApplied
	}
	sortResults(res)
	return res, nil
}

// RollbackTo brings the whole stack back to revision n: every service spec
// of that revision with its pinned image and its config and secret
// versions, services it had and the stack lacks now created again, and
// services it did not have removed. It checks, applies, waits and (with
// Atomic) undoes like Deploy, and records a new revision (with
// o.Revision). Config and secret versions are never removed by it.
func RollbackTo(ctx context.Context, api API, namespace string, n int, o Options) (*Result, error) {
	o.restore = &restore{number: n}
	return DeployFrom(ctx, api, namespace, nil, o)
}

func withoutObjectRemovals(changes []plan.Change) []plan.Change {
	var out []plan.Change
	for _, c := range changes {
		if c.Action == plan.ActionRemove && c.Kind != plan.KindService {
			continue
		}
		out = append(out, c)
	}
	return out
}

func appliedResults(a *Applied, images map[string]string, outcomes []ServiceOutcome) []ServiceResult {
	byName := map[string]ServiceOutcome{}
	for _, o := range outcomes {
		byName[o.Name] = o
	}
	var out []ServiceResult
	add := func(name string, action plan.Action) {
		r := ServiceResult{Service: name, Action: action, Image: images[name], Outcome: OutcomeDetached}
		if oc, ok := byName[name]; ok {
			r.Outcome, r.Message, r.Duration = oc.Outcome, oc.Message, oc.Duration.Round(time.Millisecond).Seconds()
		}
		out = append(out, r)
	}
	for n := range a.Created {
		add(n, plan.ActionCreate)
	}
	for n := range a.Updated {
		add(n, plan.ActionUpdate)
	}
	for _, r := range a.Removed {
		if name, ok := strings.CutPrefix(r, string(plan.KindService)+" "); ok {
			out = append(out, ServiceResult{Service: name, Action: plan.ActionRemove, Outcome: OutcomeRemoved})
		}
	}
	return out
}

func sortResults(r *Result) {
	slices.SortFunc(r.Services, func(a, b ServiceResult) int { return strings.Compare(a.Service, b.Service) })
	slices.Sort(r.Warnings)
}
