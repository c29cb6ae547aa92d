// Package record keeps small records of a stack in the swarm itself, so that
// every machine that reaches a manager (a CI runner, a laptop, another
// manager) reads the same ones: each record is a swarm config named
// STACK.KIND[.SEQ], labelled with the stack, its kind, its number and a state
// that can change, holding a gzip-compressed JSON payload. Config names are
// unique, so creating one is a compare-and-swap; configs are immutable except
// for their labels, so the payload never changes and the state can.
//
// Revisions of a stack (stack/revision) are records of kind "rev". It knows
// nothing of deploys: it stores, lists, relabels and removes records, and
// says who wrote them (user, host, CI job).
package record
