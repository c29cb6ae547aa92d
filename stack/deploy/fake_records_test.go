package deploy

import (
	"context"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ConfigInspect reads one config of the fake engine (records' state updates).
func (f *fakeEngine) ConfigInspect(_ context.Context, id string, _ client.ConfigInspectOptions) (client.ConfigInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.configs[id]
	if !ok {
		return client.ConfigInspectResult{}, errdefs.ErrNotFound.WithMessage("config " + id + " not found")
	}
	return client.ConfigInspectResult{Config: c}, nil
}
