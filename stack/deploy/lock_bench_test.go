package deploy

import (
	"context"
	"testing"

	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/record"
)

// BenchmarkLockAcquireRelease is what the stack's lock adds to every
// deploy and rollback on the real engine: one create and one remove of a
// swarm config, each a Raft write (and, when it is free, nothing else).
func BenchmarkLockAcquireRelease(b *testing.B) {
	c := testenv.Engine(b)
	stack := testenv.UniqueName(b)
	ctx := context.Background()
	for b.Loop() {
		l, err := AcquireLock(ctx, c, stack, LockOptions{Who: record.Who{User: "bench"}, Command: "deploy"})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
