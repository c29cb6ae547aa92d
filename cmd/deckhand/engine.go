package main

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// connectEngine is the one place deckhand connects to a Docker engine: the
// one the environment names (DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH). It checks that the engine answers and negotiates the API
// version down to the engine's (API 1.41, Engine 20.10, is the oldest
// supported). Libraries below cmd never connect: they take narrow interfaces
// that *client.Client satisfies.
func connectEngine(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("configure docker client: %w; check DOCKER_HOST and DOCKER_CERT_PATH", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("cannot reach the docker engine at %s: %w; start dockerd or point DOCKER_HOST at a running engine", c.DaemonHost(), err)
	}
	return c, nil
}
