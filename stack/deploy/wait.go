package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Progress receives what a wait sees, for the command layer to show.
type Progress interface {
	Waiting(services []string) // once, before polling: the names waited for, sorted
	Status(s ServiceStatus)    // a service's progress changed
	Finished(o ServiceOutcome) // a service's wait ended
}

// ServiceStatus is one service's progress while it is waited for.
type ServiceStatus struct {
	Name           string // swarm name of the service
	Ready, Desired int    // tasks running (or completed, for jobs) and wanted
	Phase          string // running, updating, rolling back or completed
}

// noProgress is the Progress of a wait nobody watches.
type noProgress struct{}

func (noProgress) Waiting([]string)        {}
func (noProgress) Status(ServiceStatus)    {}
func (noProgress) Finished(ServiceOutcome) {}

// WaitOptions steers Wait.
type WaitOptions struct {
	Progress Progress      // nil shows nothing
	Interval time.Duration // between polls; default 1s
	// Settle is how long a service must stay converged before it counts,
	// like docker's monitor period; default 5s (the service's update
	// monitor when shorter).
	Settle time.Duration
	Logger *slog.Logger
}

// ServiceOutcome is how waiting for one service ended.
type ServiceOutcome struct {
	Name     string        `json:"service"`
	ID       string        `json:"id"`
	Outcome  Outcome       `json:"outcome"`
	Message  string        `json:"message,omitempty"`
	Duration time.Duration `json:"-"`
}

// Converged reports whether the service reached its desired state.
func (o ServiceOutcome) Converged() bool { return o.Outcome == OutcomeConverged }

// Wait polls the services (name → ID) until each has converged, failed or
// ctx ends, printing a line whenever a service's progress changes. An update
// that swarm paused or rolled back is a failure naming the task error.
func Wait(ctx context.Context, api WaitAPI, services map[string]string, o WaitOptions) []ServiceOutcome {
	if o.Progress == nil {
		o.Progress = noProgress{}
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	names := slices.Sorted(maps.Keys(services))
	o.Progress.Waiting(names)
	var (
		mu  sync.Mutex
		out []ServiceOutcome
		wg  sync.WaitGroup
	)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := waitOne(ctx, api, name, services[name], o)
			r.Duration = time.Since(start)
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
			o.Progress.Finished(r)
		}()
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b ServiceOutcome) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func waitOne(ctx context.Context, api WaitAPI, name, id string, o WaitOptions) ServiceOutcome {
	res := ServiceOutcome{Name: name, ID: id}
	log := o.Logger.With("component", "deploy", "service", name)
	var convergedAt time.Time
	var last ServiceStatus
	for {
		p, err := poll(ctx, api, id)
		switch {
		case ctx.Err() != nil:
			res.Outcome = OutcomeTimedOut
			if errors.Is(ctx.Err(), context.Canceled) {
				res.Outcome = OutcomeCanceled
			}
			if te := lastTaskError(context.WithoutCancel(ctx), api, id); te != "" {
				res.Message = "last task error: " + te
			}
			return res
		case errdefs.IsNotFound(err):
			res.Outcome, res.Message = OutcomeFailed, err.Error()+"; the service was removed while deckhand waited for it"
			return res
		case err != nil:
			// The engine may hiccup (leader election, restart): keep polling
			// until the timeout, reporting the error if it persists.
			log.Warn("poll failed", "error", err)
			res.Message = err.Error()
			select {
			case <-ctx.Done():
			case <-time.After(o.Interval):
			}
			continue
		}
		res.Message = ""
		switch p.state {
		case stateRolledBack, statePaused:
			res.Outcome = OutcomeRolledBack
			if p.state == statePaused {
				res.Outcome = OutcomePaused
			}
			res.Message = p.message
			if te := lastTaskError(ctx, api, id); te != "" {
				res.Message += "; task error: " + te
			}
			return res
		case stateFailed:
			res.Outcome, res.Message = OutcomeFailed, p.message
			return res
		case stateDone:
			res.Outcome = OutcomeConverged
			return res
		}
		if st := (ServiceStatus{Name: name, Ready: p.ready, Desired: p.desired, Phase: p.phase}); st != last {
			o.Progress.Status(st)
			log.Debug("progress", "ready", p.ready, "desired", p.desired, "phase", p.phase)
			last = st
		}
		if p.state == stateConverged {
			settle := o.Settle
			if p.monitor > 0 && p.monitor < settle {
				settle = p.monitor
			}
			if convergedAt.IsZero() {
				convergedAt = time.Now()
			}
			if time.Since(convergedAt) >= settle {
				res.Outcome = OutcomeConverged
				return res
			}
		} else {
			convergedAt = time.Time{}
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.Interval):
		}
	}
}

type waitState int

const (
	stateProgressing waitState = iota
	stateConverged             // converged, but must settle
	stateDone                  // converged for good (jobs)
	stateRolledBack
	statePaused
	stateFailed // a task failed for good
)

type progress struct {
	state          waitState
	ready, desired int
	phase, message string
	monitor        time.Duration
}

func poll(ctx context.Context, api WaitAPI, id string) (progress, error) {
	svc, err := api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return progress{}, fmt.Errorf("inspect service %s: %w", id, err)
	}
	tasks, err := api.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", id).Add("_up-to-date", "true")})
	if err != nil {
		return progress{}, fmt.Errorf("list tasks of service %s: %w", id, err)
	}
	return assess(svc.Service, tasks.Items), nil
}

// assess is the pure convergence rule: the update (if any) completed and every
// desired task of the current spec is running (or, for one-shot services and
// jobs, completed).
func assess(svc swarm.Service, tasks []swarm.Task) progress {
	p := progress{phase: "running"}
	if uc := svc.Spec.UpdateConfig; uc != nil {
		p.monitor = uc.Monitor
	}
	updating := false
	if us := svc.UpdateStatus; us != nil {
		switch us.State {
		case swarm.UpdateStatePaused:
			return progress{state: statePaused, message: "update paused: " + us.Message}
		case swarm.UpdateStateRollbackPaused:
			return progress{state: statePaused, message: "rollback paused: " + us.Message}
		case swarm.UpdateStateRollbackCompleted:
			return progress{state: stateRolledBack, message: "swarm rolled the update back: " + us.Message}
		case swarm.UpdateStateRollbackStarted:
			updating, p.phase = true, "rolling back"
		case swarm.UpdateStateUpdating:
			updating, p.phase = true, "updating"
		}
	}
	oneShot := false
	if rp := svc.Spec.TaskTemplate.RestartPolicy; rp != nil && rp.Condition != swarm.RestartPolicyConditionAny && rp.Condition != "" {
		oneShot = true
	}
	mode := svc.Spec.Mode
	job := mode.ReplicatedJob != nil || mode.GlobalJob != nil
	latest := latestTasks(tasks, mode.Global != nil || mode.GlobalJob != nil)
	if rp := svc.Spec.TaskTemplate.RestartPolicy; rp != nil && rp.Condition == swarm.RestartPolicyConditionNone {
		// Swarm will not retry: a failed task is final.
		for _, t := range latest {
			if t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected {
				return progress{state: stateFailed, message: fmt.Sprintf("task %s %s and its restart condition is none: %s", shortID(t.ID), t.Status.State, t.Status.Err)}
			}
		}
	}
	completed := 0
	for _, t := range latest {
		switch {
		case t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning && !job:
			p.ready++
		case t.Status.State == swarm.TaskStateComplete && (oneShot || job):
			p.ready++
			completed++
		}
	}
	switch {
	case mode.Replicated != nil && mode.Replicated.Replicas != nil:
		p.desired = int(*mode.Replicated.Replicas)
	case mode.ReplicatedJob != nil:
		p.desired = 1
		if mode.ReplicatedJob.TotalCompletions != nil {
			p.desired = int(*mode.ReplicatedJob.TotalCompletions)
		}
		p.phase = "completed"
	default: // global: one task per eligible node
		for _, t := range latest {
			if t.DesiredState == swarm.TaskStateRunning || t.DesiredState == swarm.TaskStateComplete || t.Status.State == swarm.TaskStateComplete {
				p.desired++
			}
		}
		if p.desired == 0 {
			p.desired = 1 // the orchestrator has not placed tasks yet
		}
		if job {
			p.phase = "completed"
		}
	}
	if !updating && p.ready >= p.desired {
		p.state = stateConverged
		// A one-shot service is done once its tasks completed; while any of
		// them still runs it must settle like any service, or a task that
		// fails a moment after starting would count as converged.
		if job || (oneShot && p.desired > 0 && completed >= p.desired) {
			p.state = stateDone
		}
	}
	return p
}

// latestTasks keeps the newest task per slot (replicated) or node (global).
func latestTasks(tasks []swarm.Task, global bool) []swarm.Task {
	newest := map[string]swarm.Task{}
	for _, t := range tasks {
		key := fmt.Sprint(t.Slot)
		if global {
			key = t.NodeID
		}
		if cur, ok := newest[key]; !ok || t.Meta.Version.Index > cur.Meta.Version.Index {
			newest[key] = t
		}
	}
	out := make([]swarm.Task, 0, len(newest))
	for _, k := range slices.Sorted(maps.Keys(newest)) {
		out = append(out, newest[k])
	}
	return out
}

// lastTaskError is the error of the service's most recently failed task.
func lastTaskError(ctx context.Context, api WaitAPI, id string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := api.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", id)})
	if err != nil {
		return ""
	}
	var best *swarm.Task
	for i, t := range res.Items {
		if t.Status.Err == "" {
			continue
		}
		if best == nil || t.Status.Timestamp.After(best.Status.Timestamp) {
			best = &res.Items[i]
		}
	}
	if best == nil {
		return ""
	}
	return fmt.Sprintf("%s (task %s, %s)", best.Status.Err, shortID(best.ID), best.Status.State)
}
