package discovery

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/events"
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
	nodes, err := e.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return Model{}, nil, fmt.Errorf("list swarm nodes: %w; is the engine a swarm manager?", err)
	}
	services, err := e.ServiceList(ctx, client.ServiceListOptions{})
	if err != nil {
		return Model{}, nil, fmt.Errorf("list swarm services: %w", err)
	}
	tasks, err := e.TaskList(ctx, client.TaskListOptions{
		Filters: make(client.Filters).Add("desired-state", "running"),
	})
	if err != nil {
		return Model{}, nil, fmt.Errorf("list swarm tasks: %w", err)
	}
	m, warnings := Build(nodes.Items, services.Items, tasks.Items, opts)
	return m, warnings, nil
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
