// Package compose turns compose files and an environment into a *Stack:
// compose-go loads, interpolates, merges and resolves paths; deckhand adds
// what protects its users and compose-go lacks (every unset variable with
// file:line:column, the alias-cycle guard, YAML error lines, the swarm-key
// check) and names configs and secrets by content. It also renders a stack
// as YAML or JSON. Loading is a pure function of its inputs: it never
// contacts an engine.
package compose
