package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Lister is the part of the engine client discovery reads the swarm with:
// three list calls, never one inspect per object.
type Lister interface {
	NodeList(ctx context.Context, options client.NodeListOptions) (client.NodeListResult, error)
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
	TaskList(ctx context.Context, options client.TaskListOptions) (client.TaskListResult, error)
}

// Eventer is the part of the engine client that streams events.
type Eventer interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
}

// Read lists nodes, services and tasks and builds the model. Any failed list
// call fails the whole read, so a model is never built from a half-read state.
func Read(ctx context.Context, e Lister, opts Options) (Model, []error, error) {
	st, err := list(ctx, e)
	if err != nil {
		return Model{}, nil, err
	}
	m, warnings := Build(st.nodes, st.services, st.tasks, opts)
	return m, warnings, nil
}

// state is one reading of the swarm.
type state struct {
	nodes    []swarm.Node
	services []swarm.Service
	tasks    []swarm.Task
}

func list(ctx context.Context, e Lister) (state, error) {
	nodes, err := e.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return state{}, fmt.Errorf("list swarm nodes: %w; is the engine a swarm manager?", err)
	}
	services, err := e.ServiceList(ctx, client.ServiceListOptions{})
	if err != nil {
		return state{}, fmt.Errorf("list swarm services: %w", err)
	}
	tasks, err := e.TaskList(ctx, client.TaskListOptions{
		Filters: make(client.Filters).Add("desired-state", "running"),
	})
	if err != nil {
		return state{}, fmt.Errorf("list swarm tasks: %w", err)
	}
	return state{nodes: nodes.Items, services: services.Items, tasks: tasks.Items}, nil
}

// portMemory remembers the published ports each task last reported. A
// running task keeps its ports for its whole life, but swarm can list one
// without them: after a manager election, a node agent that re-reports its
// tasks may send a status whose port part it could not read (seen on Engine
// 20.10, for the rest of the task's life). Without the memory such a task
// would drop out of nginx while it serves.
type portMemory struct {
	ports map[string][]swarm.PortConfig // task ID → last reported ports
}

// fill gives each running task that lists no ports the ports it last
// reported, and forgets the tasks no longer listed. It reports how many
// tasks it filled.
func (pm *portMemory) fill(tasks []swarm.Task) int {
	next := make(map[string][]swarm.PortConfig, len(tasks))
	filled := 0
	for i := range tasks {
		t := &tasks[i]
		switch {
		case len(t.Status.PortStatus.Ports) > 0:
			next[t.ID] = t.Status.PortStatus.Ports
		case t.Status.State == swarm.TaskStateRunning && pm.ports[t.ID] != nil:
			t.Status.PortStatus.Ports = pm.ports[t.ID]
			next[t.ID] = pm.ports[t.ID]
			filled++
		}
	}
	pm.ports = next
	return filled
}

// Subscribe streams a signal for every service and node event until ctx ends
// or the stream breaks; the error channel then carries why (nil when ctx ended).
func Subscribe(ctx context.Context, e Eventer) (<-chan struct{}, <-chan error) {
	res := e.Events(ctx, client.EventsListOptions{
		Filters: make(client.Filters).Add("type", string(events.ServiceEventType), string(events.NodeEventType)),
	})
	out := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				errc <- nil
				return
			case _, ok := <-res.Messages:
				if !ok {
					errc <- fmt.Errorf("engine event stream closed")
					return
				}
				select {
				case out <- struct{}{}:
				default: // a signal is already pending; one read covers both
				}
			case err := <-res.Err:
				if ctx.Err() != nil {
					errc <- nil
				} else {
					errc <- fmt.Errorf("engine event stream: %w", err)
				}
				return
			}
		}
	}()
	return out, errc
}

// Engine is the part of the engine client a watcher needs.
type Engine interface {
	Lister
	Eventer
}

// EngineSource reads the model from an engine for nginx.Watch, logging each
// distinct set of label warnings once rather than on every poll.
type EngineSource struct {
	Engine  Engine
	Options Options
	Logger  *slog.Logger
	// Timeout bounds one read (three list calls); zero means 10 s.
	Timeout time.Duration

	lastWarnings string
	ports        portMemory
	filled       int
}

// Read lists the swarm and builds the model; the warnings say which
// services were left out and why.
func (s *EngineSource) Read(ctx context.Context) (Model, []error, error) {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := list(rctx, s.Engine)
	if err != nil {
		return Model{}, nil, err
	}
	// Logged once per change in how many tasks were filled, not per poll.
	filled := s.ports.fill(st.tasks)
	if filled > 0 && filled != s.filled && s.Logger != nil {
		s.Logger.Warn("swarm lists running tasks without their ports; routing to the ports they reported before", "tasks", filled)
	}
	s.filled = filled
	m, warnings := Build(st.nodes, st.services, st.tasks, s.Options)
	var b strings.Builder
	for _, w := range warnings {
		b.WriteString(w.Error())
		b.WriteByte('\n')
	}
	if b.String() != s.lastWarnings && s.Logger != nil {
		for _, w := range warnings {
			s.Logger.Warn("left out of the nginx config", "err", w)
		}
	}
	s.lastWarnings = b.String()
	return m, warnings, nil
}

// Subscribe streams service and node events.
func (s *EngineSource) Subscribe(ctx context.Context) (<-chan struct{}, <-chan error) {
	return Subscribe(ctx, s.Engine)
}
