package deploy

import (
	"context"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/record"
)

// ReadAPI is the part of the engine API that planning reads.
type ReadAPI interface {
	Info(ctx context.Context, o client.InfoOptions) (client.SystemInfoResult, error)
	NodeList(ctx context.Context, o client.NodeListOptions) (client.NodeListResult, error)
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
	NetworkList(ctx context.Context, o client.NetworkListOptions) (client.NetworkListResult, error)
	NetworkInspect(ctx context.Context, id string, o client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	ConfigList(ctx context.Context, o client.ConfigListOptions) (client.ConfigListResult, error)
	SecretList(ctx context.Context, o client.SecretListOptions) (client.SecretListResult, error)
	DistributionInspect(ctx context.Context, image string, o client.DistributionInspectOptions) (client.DistributionInspectResult, error)
}

// API is everything a deploy needs from the engine; *client.Client has it.
type API interface {
	ReadAPI
	WriteAPI
	WaitAPI
	record.API // the revision a deploy records
}

// WriteAPI is the part of the engine API that apply writes with.
type WriteAPI interface {
	NetworkCreate(ctx context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	NetworkRemove(ctx context.Context, id string, o client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
	ConfigCreate(ctx context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error)
	ConfigUpdate(ctx context.Context, id string, o client.ConfigUpdateOptions) (client.ConfigUpdateResult, error)
	ConfigRemove(ctx context.Context, id string, o client.ConfigRemoveOptions) (client.ConfigRemoveResult, error)
	SecretCreate(ctx context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error)
	SecretUpdate(ctx context.Context, id string, o client.SecretUpdateOptions) (client.SecretUpdateResult, error)
	SecretRemove(ctx context.Context, id string, o client.SecretRemoveOptions) (client.SecretRemoveResult, error)
	ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceRemove(ctx context.Context, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
}

// WaitAPI is the part of the engine API that waiting reads: every waited
// service and their tasks in one list call each per poll, and the nodes when
// a task cannot be scheduled.
type WaitAPI interface {
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
	TaskList(ctx context.Context, o client.TaskListOptions) (client.TaskListResult, error)
	NodeList(ctx context.Context, o client.NodeListOptions) (client.NodeListResult, error)
}

// RollbackAPI is the engine API rollback needs.
type RollbackAPI interface {
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	WaitAPI
}

// shortID shortens an engine object ID the way docker prints it.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
