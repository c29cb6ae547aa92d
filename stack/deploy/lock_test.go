package deploy

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deckhand/deckhand/stack/record"
)

var alice = record.Who{User: "alice", Host: "laptop"}

func TestLockSecondRunWaitsThenFailsNamingTheHolder(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	first, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Command: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release(ctx)
	var out bytes.Buffer
	start := time.Now()
	_, err = AcquireLock(ctx, f, "app", LockOptions{Who: record.Who{User: "bob"}, Timeout: 150 * time.Millisecond, Poll: 20 * time.Millisecond, Out: &out})
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second run: %v, want a *LockedError", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("second run gave up after %s, before --lock-timeout", time.Since(start))
	}
	for _, want := range []string{"alice@laptop (deploy)", "deckhand unlock app", "--lock-timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if got := out.String(); strings.Count(got, "\n") != 1 || !strings.Contains(got, "locked by alice@laptop (deploy)") {
		t.Errorf("progress = %q, want one line naming the holder", got)
	}
}

func TestLockReleasedLetsTheWaiterIn(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	first, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice})
	if err != nil {
		t.Fatal(err)
	}
	if first.Waited != 0 {
		t.Errorf("a free lock: waited %s, want 0", first.Waited)
	}
	go func() { time.Sleep(50 * time.Millisecond); first.Release(ctx) }()
	second, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Timeout: 5 * time.Second, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("after the first run released it: %v", err)
	}
	if second.Waited < 40*time.Millisecond {
		t.Errorf("the waiter says it waited %s for the first run's 50 ms, want about that", second.Waited)
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := ReadLock(ctx, f, "app"); err != nil || info != nil {
		t.Errorf("after release the lock is %v, %v; want none", info, err)
	}
}

func TestLockOneRunAtATime(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			l, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Timeout: 10 * time.Second, Poll: 2 * time.Millisecond})
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > most.Load() {
				most.Store(n)
			}
			time.Sleep(5 * time.Millisecond)
			inside.Add(-1)
			l.Release(ctx)
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d runs held the lock at once", most.Load())
	}
}

func TestLockExpiredHolderIsBroken(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	// A run that died: its lock is never released nor refreshed.
	past := func() time.Time { return time.Now().Add(-2 * time.Hour) }
	if _, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Now: past, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	l, err := AcquireLock(ctx, f, "app", LockOptions{Who: record.Who{User: "bob"}, Out: &out})
	if err != nil {
		t.Fatalf("an expired lock blocks: %v", err)
	}
	defer l.Release(ctx)
	if l.Waited != 0 {
		t.Errorf("breaking a dead run's lock counts as waiting %s, want 0", l.Waited)
	}
	if !strings.Contains(out.String(), "breaking the lock of alice@laptop") {
		t.Errorf("progress = %q, want it to say it broke alice's lock", out.String())
	}
	if info, _ := ReadLock(ctx, f, "app"); info == nil || info.Who.User != "bob" {
		t.Errorf("holder = %+v, want bob", info)
	}
}

func TestLockHeartbeatRefreshesExpiry(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	l, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, TTL: 60 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	time.Sleep(150 * time.Millisecond)
	info, err := ReadLock(ctx, f, "app")
	if err != nil || info == nil {
		t.Fatalf("lock = %v, %v", info, err)
	}
	if !info.Expires.After(l.Info.Expires) {
		t.Errorf("expiry %s not refreshed past %s", info.Expires, l.Info.Expires)
	}
	if _, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice}); err == nil {
		t.Error("a live run's lock was taken after its first TTL")
	}
}

func TestUnlockBreaksTheLock(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	if info, err := Unlock(ctx, f, "app"); err != nil || info != nil {
		t.Fatalf("unlock of a free stack = %v, %v; want nil, nil", info, err)
	}
	l, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Command: "rollback"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := Unlock(ctx, f, "app")
	if err != nil || info == nil || info.Who != alice || info.Command != "rollback" {
		t.Fatalf("unlock = %+v, %v; want alice's rollback", info, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("release of a broken lock: %v", err)
	}
}

func TestLockOfAGoneProcessIsBroken(t *testing.T) {
	f := newFakeEngine()
	ctx := context.Background()
	dead := Process{Boot: "b1", PID: 4242}
	if _, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Process: dead}); err != nil {
		t.Fatal(err)
	}
	gone := func(l LockInfo) bool { return l.Process == dead }
	var out bytes.Buffer
	l, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Process: Process{Boot: "b1", PID: 1}, Gone: gone, Out: &out})
	if err != nil {
		t.Fatalf("the lock of a gone process blocks: %v", err)
	}
	defer l.Release(ctx)
	if !strings.Contains(out.String(), "its process 4242 is gone") {
		t.Errorf("progress = %q, want it to say why it broke the lock", out.String())
	}
	if _, err := AcquireLock(ctx, f, "app", LockOptions{Who: alice, Gone: gone}); err == nil {
		t.Error("a live process's lock was broken")
	}
}
