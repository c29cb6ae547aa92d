package deploy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/swarmspec"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// RollbackOptions steers Rollback.
type RollbackOptions struct {
	Services       []string // short service names; empty means every service of the stack
	Wait           bool
	Timeout        time.Duration
	PendingTimeout time.Duration // see Options.PendingTimeout
	Out            io.Writer     // one line per service rolled back
	Progress       Progress      // the wait's progress; nil shows none
	Logger         *slog.Logger
	WaitInterval   time.Duration
	Settle         time.Duration
}

// Rollback asks swarm to roll services of a stack back to their previous
// spec and (with Wait) waits for them like deploy does. Services without a
// previous spec are reported, not touched.
func Rollback(ctx context.Context, api RollbackAPI, namespace string, o RollbackOptions) (*Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	log := o.Logger.With("component", "rollback", "stack", namespace)
	res := &Result{Stack: namespace, Changes: []plan.Change{}, Services: []ServiceResult{}}
	list, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+namespace)})
	if err != nil {
		return res, fmt.Errorf("list services of stack %q: %w; check DOCKER_HOST points at a swarm manager", namespace, err)
	}
	want := map[string]bool{}
	for _, s := range o.Services {
		want[namespace+"_"+strings.TrimPrefix(s, namespace+"_")] = true
	}
	found := map[string]bool{}
	var problems []string
	ids := map[string]string{}
	slices.SortFunc(list.Items, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	for _, svc := range list.Items {
		name := svc.Spec.Name
		if len(want) > 0 && !want[name] {
			continue
		}
		found[name] = true
		if svc.PreviousSpec == nil {
			if len(want) > 0 {
				problems = append(problems, fmt.Sprintf("service %q has no previous spec to roll back to", name))
			}
			continue
		}
		_, err := api.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: svc.Spec, Rollback: "previous"})
		if err != nil {
			problems = append(problems, fmt.Sprintf("roll back service %q: %v", name, err))
			continue
		}
		log.Debug("rollback requested", "service", name)
		fmt.Fprintf(o.Out, "Rolling back service %s\n", name)
		ids[name] = svc.ID
		res.Changes = append(res.Changes, plan.Change{Kind: plan.KindService, Name: name, Action: plan.ActionRollback})
	}
	for name := range want {
		if !found[name] {
			problems = append(problems, fmt.Sprintf("service %q is not part of stack %q; list them with docker stack services %s", name, namespace, namespace))
		}
	}
	slices.Sort(problems)
	if len(ids) == 0 && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("no service of stack %q has a previous spec; nothing to roll back", namespace))
	}
	var outcomes []ServiceOutcome
	if o.Wait && len(ids) > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Timeout)
		outcomes = Wait(wctx, api, ids, WaitOptions{Progress: o.Progress, Interval: o.WaitInterval, Settle: o.Settle, PendingTimeout: o.PendingTimeout, Logger: o.Logger})
		cancel()
	}
	byName := map[string]ServiceOutcome{}
	for _, oc := range outcomes {
		byName[oc.Name] = oc
	}
	var failed []string
	for _, name := range slices.Sorted(maps.Keys(ids)) {
		r := ServiceResult{Service: name, Action: plan.ActionRollback, Outcome: OutcomeDetached}
		if oc, ok := byName[name]; ok {
			r.Outcome, r.Message, r.Duration = oc.Outcome, oc.Message, oc.Duration.Round(time.Millisecond).Seconds()
			// A rollback's own UpdateStatus ends in rollback_completed: that is success here.
			if oc.Outcome == OutcomeRolledBack {
				r.Outcome, r.Message = OutcomeConverged, ""
			} else if !oc.Converged() {
				failed = append(failed, fmt.Sprintf("service %s %s: %s", name, oc.Outcome, oc.Message))
			}
		}
		res.Services = append(res.Services, r)
	}
	switch {
	case len(problems) > 0:
		res.Outcome = OutcomeFailed
		err := fmt.Errorf("rollback of stack %q:\n  %s", namespace, strings.Join(problems, "\n  "))
		res.Error = err.Error()
		return res, err
	case len(failed) > 0:
		res.Outcome = OutcomeNotConverged
		err := fmt.Errorf("rollback of stack %q did not converge:\n  %s", namespace, strings.Join(failed, "\n  "))
		res.Error = err.Error()
		return res, &NotConvergedError{Err: err}
	case !o.Wait:
		res.Outcome = OutcomeApplied
	default:
		res.Outcome = OutcomeConverged
	}
	return res, nil
}
