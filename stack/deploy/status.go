package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// StatusAPI is the engine API status and diff read.
type StatusAPI interface {
	record.ReadAPI
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
	NetworkList(ctx context.Context, o client.NetworkListOptions) (client.NetworkListResult, error)
	TaskList(ctx context.Context, o client.TaskListOptions) (client.TaskListResult, error)
}

// ServiceState is one service as status shows it.
type ServiceState struct {
	Service       string `json:"service"`
	Image         string `json:"image"`
	Running       int    `json:"running"` // tasks running (or completed, for jobs)
	Desired       int    `json:"desired"`
	UpdateState   string `json:"update_state,omitempty"` // swarm's: updating, completed, paused, rollback_completed, ...
	UpdateMessage string `json:"update_message,omitempty"`
	LastError     string `json:"last_error,omitempty"` // the most recent task error
	Converged     bool   `json:"converged"`
}

// Status is a stack as the person paged about it wants to see it.
type Status struct {
	Stack     string `json:"stack"`
	Converged bool   `json:"converged"` // every service converged
	// Running is the newest recorded revision the live specs match; nil
	// when they match none (changed by hand, or a run failed half-way).
	Running   *revision.Summary `json:"running_revision,omitempty"`
	Latest    *revision.Summary `json:"latest_revision,omitempty"` // the newest recorded revision
	Revisions int               `json:"revisions"`                 // how many are recorded
	Services  []ServiceState    `json:"services"`
}

// StackStatus reads the stack's services, their tasks and its revisions:
// one round of list calls, then the tasks of every service in two calls.
func StackStatus(ctx context.Context, api StatusAPI, stack string) (*Status, error) {
	var (
		services        []swarm.Service
		specs           map[string]swarm.ServiceSpec
		revs            []*revision.Revision
		liveErr, recErr error
		wg              sync.WaitGroup
	)
	wg.Go(func() { services, specs, liveErr = liveSpecs(ctx, api, stack) })
	wg.Go(func() { revs, recErr = Revisions(ctx, api, stack) })
	wg.Wait()
	if err := errors.Join(liveErr, recErr); err != nil {
		return nil, err
	}
	if len(services) == 0 {
		return nil, fmt.Errorf("stack %q has no services on this swarm; list the stacks with docker stack ls", stack)
	}
	ids := make([]string, len(services))
	for i, s := range services {
		ids[i] = s.ID
	}
	var current, all client.TaskListResult
	var curErr, allErr error
	wg.Go(func() {
		current, curErr = api.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", ids...).Add("_up-to-date", "true")})
	})
	wg.Go(func() {
		all, allErr = api.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", ids...)})
	})
	wg.Wait()
	if err := errors.Join(curErr, allErr); err != nil {
		return nil, fmt.Errorf("list the tasks of stack %q: %w", stack, err)
	}
	st := &Status{Stack: stack, Converged: true, Revisions: len(revs), Services: []ServiceState{}}
	for _, s := range services {
		ss := serviceState(s, tasksOf(current.Items, s.ID), tasksOf(all.Items, s.ID))
		st.Converged = st.Converged && ss.Converged
		st.Services = append(st.Services, ss)
	}
	sums := revision.Summarize(revs)
	if len(sums) > 0 {
		st.Latest = &sums[len(sums)-1]
	}
	if r := revision.Running(revs, specs); r != nil {
		for i := range sums {
			if sums[i].Number == r.Number {
				st.Running = &sums[i]
			}
		}
	}
	return st, nil
}

// LiveSpecs reads the stack's service specs as revisions keep them
// (revision.Clean), by name, to compare with recorded ones.
func LiveSpecs(ctx context.Context, api StatusAPI, stack string) (map[string]swarm.ServiceSpec, error) {
	_, specs, err := liveSpecs(ctx, api, stack)
	return specs, err
}

// liveSpecs lists the stack's services (by name) and their specs cleaned
// as revisions keep them, to compare with recorded ones.
func liveSpecs(ctx context.Context, api StatusAPI, stack string) ([]swarm.Service, map[string]swarm.ServiceSpec, error) {
	var (
		svcs       client.ServiceListResult
		nets       client.NetworkListResult
		svcErr, ne error
		wg         sync.WaitGroup
	)
	wg.Go(func() {
		svcs, svcErr = api.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+stack)})
	})
	wg.Go(func() { nets, ne = api.NetworkList(ctx, client.NetworkListOptions{}) })
	wg.Wait()
	if err := errors.Join(svcErr, ne); err != nil {
		return nil, nil, fmt.Errorf("read stack %q from the swarm: %w; check that the engine is a swarm manager", stack, err)
	}
	names := map[string]string{}
	for _, n := range nets.Items {
		names[n.ID] = n.Name
	}
	specs := map[string]swarm.ServiceSpec{}
	for _, s := range svcs.Items {
		specs[s.Spec.Name] = revision.Clean(s.Spec, names)
	}
	slices.SortFunc(svcs.Items, func(a, b swarm.Service) int { return strings.Compare(a.Spec.Name, b.Spec.Name) })
	return svcs.Items, specs, nil
}

func tasksOf(tasks []swarm.Task, serviceID string) []swarm.Task {
	var out []swarm.Task
	for _, t := range tasks {
		if t.ServiceID == serviceID {
			out = append(out, t)
		}
	}
	return out
}

// serviceState is the pure rule of status: a service converged when no
// update is under way or paused and its current tasks are all running (or
// completed, for jobs and one-shot services), as the deploy's wait decides.
// A service swarm rolled back runs its previous spec: it converged when its
// tasks run.
func serviceState(s swarm.Service, current, all []swarm.Task) ServiceState {
	ss := ServiceState{Service: s.Spec.Name, LastError: latestTaskError(all)}
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		ss.Image = cs.Image
	}
	settled := true
	if us := s.UpdateStatus; us != nil {
		ss.UpdateState, ss.UpdateMessage = string(us.State), us.Message
		switch us.State {
		case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted, swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
			settled = false
		}
	}
	s.UpdateStatus = nil
	p := assess(s, current)
	ss.Running, ss.Desired = p.ready, p.desired
	ss.Converged = settled && (p.state == stateConverged || p.state == stateDone)
	return ss
}
