// Package quorum is the arithmetic of a swarm's Raft managers: how many
// failures N managers tolerate, and how likely they are to lose quorum when
// each node (and each zone) fails with a given probability. Everything but
// Check is a pure function of its inputs.
//
// N managers need a quorum of ⌊N/2⌋+1 and so tolerate K = ⌊(N−1)/2⌋
// failures. With independent node failures of probability P, quorum is lost
// with probability
//
//	exact    = Σ_{i=K+1..N} C(N,i)·P^i·(1−P)^(N−i)
//	estimate = C(N,K+1)·P^(K+1)   (the union bound: always ≥ exact)
//
// Probabilities are carried as logarithms (Prob), so 1000 managers with
// P = 1e-12 neither overflow nor round to zero.
//
// Errors about an input name the quantity (see Quantity), never the flag or
// field a caller read it from; RangeError, UnreachableError and
// SpreadLimitError let the caller name it its own way.
package quorum
