package plan

import (
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// Live is the stack's current state in the swarm (objects labelled with its namespace).
type Live struct {
	Networks []network.Summary
	Configs  []swarm.Config
	Secrets  []swarm.Secret
	Services []swarm.Service
}
