// Package deploy holds the actions that act on a swarm: preflight checks,
// image resolution, apply and undo, the wait for convergence, deploy and
// rollback. Each takes the narrow part of the engine API it needs
// (*client.Client has them all) and returns results and errors; the command
// layer turns them into text, JSON and exit codes.
package deploy
