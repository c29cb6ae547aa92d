package deploy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// scriptedSwarm is a WaitAPI whose services change with the clock: each
// service is a script from the time since the wait began to what the engine
// answers then. Run under synctest, the clock is virtual and exact.
type scriptedSwarm struct {
	start   time.Time
	scripts map[string]func(since time.Duration) (swarm.Service, []swarm.Task) // by service ID
	nodes   []swarm.Node

	mu                      sync.Mutex
	serviceLists, taskLists int
}

func newScriptedSwarm() *scriptedSwarm {
	return &scriptedSwarm{start: time.Now(), scripts: map[string]func(time.Duration) (swarm.Service, []swarm.Task){}}
}

// read counts a list call and runs each scripted service named in ids as
// it is now.
func (s *scriptedSwarm) read(calls *int, ids map[string]bool, each func(id string, svc swarm.Service, tasks []swarm.Task)) {
	s.mu.Lock()
	*calls++
	s.mu.Unlock()
	for id := range ids {
		if script, ok := s.scripts[id]; ok {
			svc, tasks := script(time.Since(s.start))
			each(id, svc, tasks)
		}
	}
}

func (s *scriptedSwarm) ServiceList(_ context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	var r client.ServiceListResult
	s.read(&s.serviceLists, o.Filters["id"], func(id string, svc swarm.Service, _ []swarm.Task) {
		svc.ID = id
		r.Items = append(r.Items, svc)
	})
	return r, nil
}

func (s *scriptedSwarm) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	var r client.TaskListResult
	s.read(&s.taskLists, o.Filters["service"], func(id string, _ swarm.Service, tasks []swarm.Task) {
		for _, t := range tasks {
			t.ServiceID = id
			r.Items = append(r.Items, t)
		}
	})
	return r, nil
}

func (s *scriptedSwarm) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: s.nodes}, nil
}

// oneReplica is a replicated service with one replica and the given update state.
func oneReplica(update *swarm.UpdateStatus) swarm.Service {
	one := uint64(1)
	return swarm.Service{Spec: swarm.ServiceSpec{Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &one}}}, UpdateStatus: update}
}

func taskIn(state swarm.TaskState, err string) []swarm.Task {
	return []swarm.Task{{ID: "task1", Slot: 1, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state, Err: err}}}
}

// updateScript: swarm updates the service from 0 s, its new task runs from
// 11 s, and swarm's update monitor completes the update at 16 s.
func updateScript(since time.Duration) (swarm.Service, []swarm.Task) {
	switch {
	case since < 11*time.Second:
		return oneReplica(&swarm.UpdateStatus{State: swarm.UpdateStateUpdating}), taskIn(swarm.TaskStateStarting, "")
	case since < 16*time.Second:
		return oneReplica(&swarm.UpdateStatus{State: swarm.UpdateStateUpdating}), taskIn(swarm.TaskStateRunning, "")
	}
	return oneReplica(&swarm.UpdateStatus{State: swarm.UpdateStateCompleted}), taskIn(swarm.TaskStateRunning, "")
}

func TestWaitEndsWhenSwarmCompletesTheUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sw := newScriptedSwarm()
		services := map[string]string{}
		for _, name := range []string{"s_a", "s_b", "s_c"} {
			sw.scripts["id-"+name] = updateScript
			services[name] = "id-" + name
		}
		out := Wait(t.Context(), sw, services, WaitOptions{})
		for _, o := range out {
			if !o.Converged() {
				t.Fatalf("%s: %s %s", o.Name, o.Outcome, o.Message)
			}
			// Swarm completed at 16 s; the wait ends at the next poll, with
			// no settling of its own on top of swarm's monitor.
			if o.Duration < 16*time.Second || o.Duration > 16*time.Second+DefaultWaitInterval {
				t.Errorf("%s converged after %s, want within one poll (%s) of swarm's completion at 16s", o.Name, o.Duration, DefaultWaitInterval)
			}
		}
		// Three services are read together: two list calls per poll, not six.
		if sw.serviceLists != sw.taskLists || sw.serviceLists > int(16*time.Second/DefaultWaitInterval)+2 {
			t.Errorf("%d service lists and %d task lists for a 16 s wait", sw.serviceLists, sw.taskLists)
		}
	})
}

func TestWaitCountsANewServiceAfterTheMonitorWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sw := newScriptedSwarm()
		sw.scripts["id1"] = func(since time.Duration) (swarm.Service, []swarm.Task) {
			svc := oneReplica(nil) // a new service has no update status
			svc.Spec.UpdateConfig = &swarm.UpdateConfig{Monitor: 3 * time.Second}
			if since < 2*time.Second {
				return svc, taskIn(swarm.TaskStatePreparing, "")
			}
			return svc, taskIn(swarm.TaskStateRunning, "")
		}
		out := Wait(t.Context(), sw, map[string]string{"s_new": "id1"}, WaitOptions{})
		// Running from 2 s, counted once it ran for its 3 s monitor, as docker does.
		if o := out[0]; !o.Converged() || o.Duration < 5*time.Second || o.Duration > 5*time.Second+DefaultWaitInterval {
			t.Errorf("outcome %s after %s, want converged within a poll after 5s", o.Outcome, o.Duration)
		}
	})
}

func TestWaitFailsATaskSwarmCannotPlaceAfterThePendingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sw := newScriptedSwarm()
		sw.nodes = []swarm.Node{{Description: swarm.NodeDescription{Hostname: "node1"},
			Spec:   swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive, Annotations: swarm.Annotations{Labels: map[string]string{"zone": "a"}}},
			Status: swarm.NodeStatus{State: swarm.NodeStateReady}}}
		const schedErr = "no suitable node (host-mode port already in use on 1 node)"
		sw.scripts["id1"] = func(time.Duration) (swarm.Service, []swarm.Task) {
			return oneReplica(nil), taskIn(swarm.TaskStatePending, schedErr)
		}
		var progress recordedProgress
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		out := Wait(ctx, sw, map[string]string{"s_port": "id1"}, WaitOptions{PendingTimeout: time.Minute, Progress: &progress})
		o := out[0]
		if o.Outcome != OutcomeUnschedulable || o.Duration < time.Minute || o.Duration > time.Minute+time.Second {
			t.Errorf("outcome %s after %s, want unschedulable after the 1m pending timeout, not the 5m timeout", o.Outcome, o.Duration)
		}
		for _, want := range []string{schedErr, "nodes swarm considered: node1 (manager, ready, active, labels zone=a)"} {
			if !strings.Contains(o.Message, want) {
				t.Errorf("message %q does not say %q", o.Message, want)
			}
		}
		if len(progress.statuses) == 0 || progress.statuses[0].Pending != schedErr {
			t.Errorf("progress did not show the scheduling error: %+v", progress.statuses)
		}
		// Nothing changes while a task waits for a node: polls are slow.
		if sw.taskLists > 2*int(time.Minute/(slowPolls*DefaultWaitInterval)) {
			t.Errorf("%d polls in a minute of pending", sw.taskLists)
		}
	})
}

// recordedProgress keeps what a wait reported.
type recordedProgress struct {
	mu       sync.Mutex
	statuses []ServiceStatus
}

func (p *recordedProgress) Waiting([]string) {}
func (p *recordedProgress) Status(s ServiceStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.statuses = append(p.statuses, s)
}
func (p *recordedProgress) Finished(ServiceOutcome) {}
