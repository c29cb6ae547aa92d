// Package swarmspec turns a loaded *compose.Stack into the swarm specs
// docker stack deploy would write for it (networks, configs, secrets,
// services), with docker/cli's own compose loader and converter. It knows
// no engine: config and secret IDs come in as a table, and the ones not
// created yet get a pending ID that FillIDs replaces later.
package swarmspec
