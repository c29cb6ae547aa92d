package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

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
	Pending        string // the scheduling error a task waits with, if any
}

// noProgress is the Progress of a wait nobody watches.
type noProgress struct{}

func (noProgress) Waiting([]string)        {}
func (noProgress) Status(ServiceStatus)    {}
func (noProgress) Finished(ServiceOutcome) {}

// Defaults of the wait.
const (
	// DefaultWaitInterval is how often the services are polled while any of
	// them changes; four times that while they only settle or stay pending.
	DefaultWaitInterval = 250 * time.Millisecond
	// DefaultPendingTimeout is how long a task may stay pending with a
	// scheduling error before its service fails.
	DefaultPendingTimeout = time.Minute
	// defaultMonitor is swarm's and docker's update monitor when the
	// service sets none.
	defaultMonitor = 5 * time.Second
	slowPolls      = 4
)

// WaitOptions steers Wait.
type WaitOptions struct {
	Progress Progress      // nil shows nothing
	Interval time.Duration // between polls while anything changes; default DefaultWaitInterval
	// Settle caps how long a service without an update of its own (a new
	// one) must stay running before it counts; the window is otherwise its
	// update monitor (5 s by default), as docker --detach=false counts it.
	Settle time.Duration
	// PendingTimeout fails a service whose task stays pending with a
	// scheduling error this long; default DefaultPendingTimeout.
	PendingTimeout time.Duration
	Logger         *slog.Logger
}

func (o *WaitOptions) defaults() {
	if o.Progress == nil {
		o.Progress = noProgress{}
	}
	if o.Interval <= 0 {
		o.Interval = DefaultWaitInterval
	}
	if o.PendingTimeout <= 0 {
		o.PendingTimeout = DefaultPendingTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
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

// failures describes the outcomes that did not converge, one a service.
func failures(outcomes []ServiceOutcome) []string {
	var failed []string
	for _, oc := range outcomes {
		if !oc.Converged() {
			msg := string(oc.Outcome)
			if oc.Message != "" {
				msg += ": " + oc.Message
			}
			failed = append(failed, fmt.Sprintf("service %s %s", oc.Name, msg))
		}
	}
	return failed
}

// Wait polls the services (name → ID) until each has converged, failed or
// ctx ends, reporting each service's progress whenever it changes. All
// services are read together, two list calls per poll. A service converges
// when swarm completes its update (swarm's update monitor has then watched
// the new tasks), or, without an update of its own, when its tasks have run
// for the monitor window. An update that swarm paused or rolled back, a
// one-shot task that failed for good and a task left pending with a
// scheduling error for PendingTimeout are failures naming the task error.
func Wait(ctx context.Context, api WaitAPI, services map[string]string, o WaitOptions) []ServiceOutcome {
	o.defaults()
	log := o.Logger.With("component", "deploy")
	start := time.Now()
	names := slices.Sorted(maps.Keys(services))
	o.Progress.Waiting(names)
	open := map[string]*watch{}
	for _, name := range names {
		open[name] = &watch{name: name, id: services[name], pendingSince: map[string]time.Time{}}
	}
	var out []ServiceOutcome
	pollErr := "" // the last failed poll's error, until a poll succeeds
	finish := func(w *watch, r ServiceOutcome) {
		r.Name, r.ID, r.Duration = w.name, w.id, time.Since(start)
		delete(open, w.name)
		out = append(out, r)
		o.Progress.Finished(r)
	}
	for len(open) > 0 {
		ids := make([]string, 0, len(open))
		for _, w := range open {
			ids = append(ids, w.id)
		}
		svcs, tasks, err := pollServices(ctx, api, ids)
		if ctx.Err() != nil {
			for _, name := range slices.Sorted(maps.Keys(open)) {
				finish(open[name], ended(ctx, api, open[name]))
			}
			break
		}
		now := time.Now()
		wake := now.Add(o.Interval)
		if err != nil {
			// The engine may hiccup (leader election, restart): keep polling
			// until the timeout, reporting the error if it persists. Each
			// distinct error is logged once, not on every poll.
			if err.Error() != pollErr {
				log.Warn("poll failed; polling on until the timeout", "error", err)
				pollErr = err.Error()
			}
			for _, w := range open {
				w.message = err.Error()
			}
		} else {
			if pollErr != "" {
				log.Info("the engine answers again")
				pollErr = ""
			}
			wake = now.Add(slowPolls * o.Interval)
			var nodes string
			for _, name := range slices.Sorted(maps.Keys(open)) {
				w := open[name]
				svc, ok := svcs[w.id]
				if !ok {
					finish(w, ServiceOutcome{Outcome: OutcomeFailed, Message: fmt.Sprintf("service %s not found: it was removed while deckhand waited for it", w.id)})
					continue
				}
				r, next := w.step(assess(svc, tasks[w.id]), now, o)
				if r == nil {
					wake = minTime(wake, next)
					continue
				}
				switch r.Outcome {
				case OutcomeRolledBack, OutcomePaused:
					if te := lastTaskError(ctx, api, w.id); te != "" {
						r.Message += "; task error: " + te
					}
				case OutcomeUnschedulable:
					if nodes == "" {
						nodes = describeNodes(ctx, api)
					}
					r.Message += "; " + nodes
				}
				log.Debug("wait ended", "service", w.name, "outcome", r.Outcome)
				finish(w, *r)
			}
		}
		if len(open) == 0 {
			break
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	slices.SortFunc(out, func(a, b ServiceOutcome) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// watch is what the wait remembers of one service between polls.
type watch struct {
	name, id     string
	last         ServiceStatus
	convergedAt  time.Time            // when deckhand first saw every task running
	pendingSince map[string]time.Time // task ID → when deckhand first saw it pending with a scheduling error
	message      string               // the last poll error, reported if the wait times out
}

// step applies one poll's assessment, made at now. It returns the outcome
// once the wait for the service is over, and otherwise the latest time the
// service wants its next poll: soon while it changes, later while it only
// settles or stays pending, never after its window or deadline.
func (w *watch) step(p progress, now time.Time, o WaitOptions) (*ServiceOutcome, time.Time) {
	w.message = ""
	switch p.state {
	case stateRolledBack:
		return &ServiceOutcome{Outcome: OutcomeRolledBack, Message: p.message}, now
	case statePaused:
		return &ServiceOutcome{Outcome: OutcomePaused, Message: p.message}, now
	case stateFailed:
		return &ServiceOutcome{Outcome: OutcomeFailed, Message: p.message}, now
	case stateDone:
		return &ServiceOutcome{Outcome: OutcomeConverged}, now
	}
	st := ServiceStatus{Name: w.name, Ready: p.ready, Desired: p.desired, Phase: p.phase}
	if len(p.pending) > 0 {
		st.Pending = p.pending[0].err
	}
	if st != w.last {
		o.Progress.Status(st)
		o.Logger.Debug("progress", "component", "deploy", "service", w.name, "ready", p.ready, "desired", p.desired, "phase", p.phase, "pending", st.Pending)
		w.last = st
	}
	next := now.Add(o.Interval)
	// A task pending with a scheduling error waits for something outside
	// the deploy (a node, resources, a port): poll it slowly, and give up
	// once it has waited PendingTimeout.
	stillPending := map[string]time.Time{}
	for _, t := range p.pending {
		since, ok := w.pendingSince[t.id]
		if !ok {
			since = now
		}
		stillPending[t.id] = since
		if waited := now.Sub(since); waited >= o.PendingTimeout {
			return &ServiceOutcome{Outcome: OutcomeUnschedulable,
				Message: fmt.Sprintf("task %s has been pending for %s: %s; give it room (free the port, add resources or nodes, or relax its constraints)", shortID(t.id), waited.Round(time.Second), t.err)}, now
		}
	}
	w.pendingSince = stillPending
	if len(p.pending) > 0 && p.ready+len(p.pending) >= p.desired {
		next = now.Add(slowPolls * o.Interval)
		for _, since := range stillPending {
			next = minTime(next, since.Add(o.PendingTimeout))
		}
	}
	if p.state != stateConverged {
		w.convergedAt = time.Time{}
		return nil, next
	}
	// Every task runs but swarm watches no update of this service (it is
	// new, or its update changed no task): count it as docker does, once
	// its tasks have run for the monitor window.
	if w.convergedAt.IsZero() {
		w.convergedAt = now
	}
	window := p.monitor
	if o.Settle > 0 && o.Settle < window {
		window = o.Settle
	}
	end := w.convergedAt.Add(window)
	if !now.Before(end) {
		return &ServiceOutcome{Outcome: OutcomeConverged}, now
	}
	return nil, minTime(now.Add(slowPolls*o.Interval), end)
}

// ended is the outcome of a service whose wait ctx ended.
func ended(ctx context.Context, api WaitAPI, w *watch) ServiceOutcome {
	r := ServiceOutcome{Outcome: OutcomeTimedOut, Message: w.message}
	if errors.Is(ctx.Err(), context.Canceled) {
		r.Outcome = OutcomeCanceled
	}
	if te := lastTaskError(context.WithoutCancel(ctx), api, w.id); te != "" {
		r.Message = "last task error: " + te
	}
	return r
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// pollServices reads the services and their up-to-date tasks, by service ID.
func pollServices(ctx context.Context, api WaitAPI, ids []string) (map[string]swarm.Service, map[string][]swarm.Task, error) {
	var (
		svcs  client.ServiceListResult
		tasks client.TaskListResult
		errs  [2]error
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		svcs, errs[0] = api.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("id", ids...)})
	})
	wg.Go(func() {
		tasks, errs[1] = api.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", ids...).Add("_up-to-date", "true")})
	})
	wg.Wait()
	if errs[0] != nil {
		return nil, nil, fmt.Errorf("list the services waited for: %w", errs[0])
	}
	if errs[1] != nil {
		return nil, nil, fmt.Errorf("list the tasks of the services waited for: %w", errs[1])
	}
	byID := make(map[string]swarm.Service, len(svcs.Items))
	for _, s := range svcs.Items {
		if slices.Contains(ids, s.ID) { // the id filter matches prefixes
			byID[s.ID] = s
		}
	}
	taskMap := map[string][]swarm.Task{}
	for _, t := range tasks.Items {
		taskMap[t.ServiceID] = append(taskMap[t.ServiceID], t)
	}
	return byID, taskMap, nil
}

// describeNodes names the swarm's nodes as the scheduler sees them: role,
// state, availability and labels.
func describeNodes(ctx context.Context, api WaitAPI) string {
	res, err := api.NodeList(context.WithoutCancel(ctx), client.NodeListOptions{})
	if err != nil {
		return "the nodes could not be listed: " + err.Error()
	}
	return "nodes swarm considered: " + nodeSummary(res.Items)
}

// nodeSummary is one line about the nodes, sorted by hostname.
func nodeSummary(nodes []swarm.Node) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		desc := []string{string(n.Spec.Role), string(n.Status.State), string(n.Spec.Availability)}
		if len(n.Spec.Labels) > 0 {
			var labels []string
			for _, k := range slices.Sorted(maps.Keys(n.Spec.Labels)) {
				labels = append(labels, k+"="+n.Spec.Labels[k])
			}
			desc = append(desc, "labels "+strings.Join(labels, ","))
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", n.Description.Hostname, strings.Join(desc, ", ")))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
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

// progress is what one poll says about a service.
type progress struct {
	state          waitState
	ready, desired int
	phase, message string
	monitor        time.Duration // the window a service without an update of its own must stay running
	pending        []pendingTask // tasks the scheduler could not place, by ID
}

// pendingTask is a task waiting for a node, with the scheduler's reason.
type pendingTask struct{ id, err string }

// assess is the pure convergence rule. A service whose update swarm
// completed has converged once every desired task of the current spec runs:
// swarm's update monitor has already watched them. Without an update of its
// own (a new service, or an update that replaced no task) it converges once
// they run, and then must settle for the monitor window. One-shot services
// and jobs are done when their tasks completed.
func assess(svc swarm.Service, tasks []swarm.Task) progress {
	p := progress{phase: "running", monitor: defaultMonitor}
	if uc := svc.Spec.UpdateConfig; uc != nil && uc.Monitor > 0 {
		p.monitor = uc.Monitor
	}
	updating, updated := false, false
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
		case swarm.UpdateStateCompleted:
			updated = true
		}
	}
	oneShot := false
	if rp := svc.Spec.TaskTemplate.RestartPolicy; rp != nil && rp.Condition != swarm.RestartPolicyConditionAny && rp.Condition != "" {
		oneShot = true
	}
	mode := svc.Spec.Mode
	job := mode.ReplicatedJob != nil || mode.GlobalJob != nil
	global := mode.Global != nil || mode.GlobalJob != nil
	if job {
		tasks = currentIteration(svc, tasks)
	}
	if msg := failedForGood(svc.Spec, tasks, global, job); msg != "" {
		return progress{state: stateFailed, message: msg}
	}
	latest := latestTasks(tasks, global)
	completed := 0
	for _, t := range latest {
		if t.Status.State == swarm.TaskStatePending && t.Status.Err != "" && t.DesiredState != swarm.TaskStateShutdown {
			p.pending = append(p.pending, pendingTask{id: t.ID, err: t.Status.Err})
		}
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
		if job || updated || (oneShot && p.desired > 0 && completed >= p.desired) {
			p.state = stateDone
		}
	}
	return p
}

// brokenJobAttempts is how many times a job's task may fail for one spec
// before the wait gives up on it when its restart policy sets no
// max_attempts: a migration that failed three times is broken, yet swarm
// would retry it forever, one restart delay apart, until --timeout. Three
// leaves room for a flaky first attempt and stays within swarm's default
// task history of five tasks per slot, so the failures are still listed.
const brokenJobAttempts = 3

// attemptLimit is how many failed tasks of one spec in one slot (a node,
// for global services) end the wait, and why; 0 when the wait goes on
// until its timeout. It follows swarmkit's restart supervisor
// (manager/orchestrator/restart/restart.go, shouldRestart): condition none
// never restarts a task; condition any restarts a job's task only when it
// failed, as on-failure does; max_attempts 0 restarts without end; otherwise
// a slot gets max_attempts restarts for the spec, so the failure after them
// is the last, unless a window is set: swarm then counts only the restarts
// inside it and may try again later. A job is broken either way once it
// failed that often or, without max_attempts, brokenJobAttempts times.
func attemptLimit(spec swarm.ServiceSpec, job bool) (int, string) {
	rp := spec.TaskTemplate.RestartPolicy
	if rp == nil {
		rp = &swarm.RestartPolicy{} // swarm's default: condition any, no max_attempts
	}
	var maxAttempts uint64
	if rp.MaxAttempts != nil {
		maxAttempts = *rp.MaxAttempts
	}
	windowed := rp.Window != nil && *rp.Window > 0
	switch {
	case rp.Condition == swarm.RestartPolicyConditionNone:
		return 1, "its restart condition is none"
	case maxAttempts > 0 && (job || !windowed):
		return int(maxAttempts) + 1, fmt.Sprintf("its restart_policy allows no more (max_attempts %d)", maxAttempts)
	case job:
		return brokenJobAttempts, fmt.Sprintf("deckhand stops waiting for a job after %d failures, though swarm goes on retrying it (its restart_policy sets no max_attempts): fix the job and deploy again", brokenJobAttempts)
	}
	return 0, ""
}

// failedForGood describes the slot whose failed tasks reached the service's
// attempt limit, with the newest failure's error; "" when none did.
func failedForGood(spec swarm.ServiceSpec, tasks []swarm.Task, global, job bool) string {
	limit, why := attemptLimit(spec, job)
	if limit == 0 {
		return ""
	}
	failed := map[string][]swarm.Task{}
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateFailed || t.Status.State == swarm.TaskStateRejected {
			key := slotKey(t, global)
			failed[key] = append(failed[key], t)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(failed)) {
		ts := failed[key]
		if len(ts) < limit {
			continue
		}
		last := slices.MaxFunc(ts, func(a, b swarm.Task) int { return cmp.Compare(a.Meta.Version.Index, b.Meta.Version.Index) })
		if limit == 1 {
			return fmt.Sprintf("task %s %s and %s: %s", shortID(last.ID), last.Status.State, why, last.Status.Err)
		}
		return fmt.Sprintf("its task failed %d times, the last time (task %s, %s) with %s; %s", len(ts), shortID(last.ID), last.Status.State, last.Status.Err, why)
	}
	return ""
}

// currentIteration drops a job's tasks from its earlier runs: a job whose
// spec went back to an earlier one (an undo) lists that run's tasks as up
// to date too.
func currentIteration(svc swarm.Service, tasks []swarm.Task) []swarm.Task {
	if svc.JobStatus == nil {
		return tasks
	}
	return slices.DeleteFunc(slices.Clone(tasks), func(t swarm.Task) bool {
		return t.JobIteration != nil && t.JobIteration.Index != svc.JobStatus.JobIteration.Index
	})
}

// slotKey is the slot a task fills: its number (replicated) or node (global).
func slotKey(t swarm.Task, global bool) string {
	if global {
		return t.NodeID
	}
	return fmt.Sprint(t.Slot)
}

// latestTasks keeps the newest task per slot (replicated) or node (global).
func latestTasks(tasks []swarm.Task, global bool) []swarm.Task {
	newest := map[string]swarm.Task{}
	for _, t := range tasks {
		key := slotKey(t, global)
		if cur, ok := newest[key]; !ok || newerTask(t, cur) {
			newest[key] = t
		}
	}
	out := make([]swarm.Task, 0, len(newest))
	for _, k := range slices.Sorted(maps.Keys(newest)) {
		out = append(out, newest[k])
	}
	return out
}

// newerTask reports whether task a of a slot is newer than task b of the
// same slot. A task swarm shuts down is older than one it does not: when a
// spec goes back to the one before (a rollback soon after a deploy), the
// task of that spec, still stopping, is up to date again, and its last
// status report, which raises its version, can come after the new task runs.
func newerTask(a, b swarm.Task) bool {
	stopping := func(t swarm.Task) bool {
		return t.DesiredState == swarm.TaskStateShutdown || t.DesiredState == swarm.TaskStateRemove
	}
	if sa, sb := stopping(a), stopping(b); sa != sb {
		return sb
	}
	return a.Meta.Version.Index > b.Meta.Version.Index
}

// lastTaskError is the error of the service's most recently failed task.
func lastTaskError(ctx context.Context, api WaitAPI, id string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := api.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", id)})
	if err != nil {
		return ""
	}
	return latestTaskError(res.Items)
}
