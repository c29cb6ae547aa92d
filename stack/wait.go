package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/moby/term"
)

// Outcomes of waiting for a service.
const (
	OutcomeConverged  = "converged"
	OutcomeRolledBack = "rolled back"
	OutcomePaused     = "paused"
	OutcomeTimedOut   = "timed out"
	OutcomeCanceled   = "canceled"
	OutcomeFailed     = "failed"
	OutcomeDetached   = "not waited"
	OutcomeUnchanged  = "unchanged"
)

// WaitAPI is the part of the engine API that waiting reads.
type WaitAPI interface {
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	TaskList(ctx context.Context, o client.TaskListOptions) (client.TaskListResult, error)
}

// WaitOptions steers Wait.
type WaitOptions struct {
	Out      io.Writer     // progress lines
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
	Outcome  string        `json:"outcome"`
	Message  string        `json:"message,omitempty"`
	Duration time.Duration `json:"-"`
}

// Converged reports whether the service reached its desired state.
func (o ServiceOutcome) Converged() bool { return o.Outcome == OutcomeConverged }

// Wait polls the services (name → ID) until each has converged, failed or
// ctx ends, printing a line whenever a service's progress changes. An update
// that swarm paused or rolled back is a failure naming the task error.
func Wait(ctx context.Context, api WaitAPI, services map[string]string, o WaitOptions) []ServiceOutcome {
	if o.Out == nil {
		o.Out = io.Discard
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
	disp := newDisplay(o.Out, names)
	var (
		mu  sync.Mutex
		out []ServiceOutcome
		wg  sync.WaitGroup
	)
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := waitOne(ctx, api, name, services[name], o, disp)
			r.Duration = time.Since(start)
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
			msg := ""
			if r.Message != "" {
				msg = ": " + r.Message
			}
			disp.set(name, fmt.Sprintf("%s: %s after %s%s", name, r.Outcome, r.Duration.Round(100*time.Millisecond), msg))
		}()
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b ServiceOutcome) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func waitOne(ctx context.Context, api WaitAPI, name, id string, o WaitOptions, disp *display) ServiceOutcome {
	res := ServiceOutcome{Name: name, ID: id}
	log := o.Logger.With("component", "deploy", "service", name)
	var convergedAt time.Time
	lastLine := ""
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
		line := fmt.Sprintf("%s: %d/%d %s", name, p.ready, p.desired, p.phase)
		if line != lastLine {
			disp.set(name, disp.bar(name, p.ready, p.desired, p.phase, line))
			log.Debug("progress", "ready", p.ready, "desired", p.desired, "phase", p.phase)
			lastLine = line
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

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// display prints wait progress: a line per change, or on a terminal one
// line per service with a progress bar, redrawn in place.
type display struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	names []string
	lines map[string]string
	drawn int
}

func newDisplay(w io.Writer, names []string) *display {
	_, tty := term.GetFdInfo(w)
	return &display{w: w, tty: tty, names: names, lines: map[string]string{}}
}

// bar is the progress text for a service: plain on a pipe, a bar on a terminal.
func (d *display) bar(name string, ready, desired int, phase, plain string) string {
	if !d.tty {
		return plain
	}
	const width = 20
	filled := width
	if desired > 0 {
		filled = min(width, width*ready/desired)
	}
	return fmt.Sprintf("%s [%s%s] %d/%d %s", name, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), ready, desired, phase)
}

// set records a service's status and shows it.
func (d *display) set(name, text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.tty {
		fmt.Fprintln(d.w, text)
		return
	}
	d.lines[name] = text
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn) // back to the first line
	}
	for _, n := range d.names {
		line := d.lines[n]
		if line == "" {
			line = n + ": waiting"
		}
		b.WriteString("\x1b[2K" + line + "\n")
	}
	d.drawn = len(d.names)
	io.WriteString(d.w, b.String())
}
