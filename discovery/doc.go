// Package discovery turns the swarm's nodes, services and tasks into deckhand's
// own routing model: services, their upstreams (one per target port) with the
// servers that answer for them, and the HTTP routes taken from service labels.
// Engine API types stop here; the nginx package only sees this model.
package discovery
