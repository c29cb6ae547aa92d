package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/deckhand/deckhand/stack/record"
)

// Lock defaults.
const (
	DefaultLockTTL  = time.Minute            // how long a lock lives without a heartbeat
	DefaultLockPoll = 500 * time.Millisecond // how often a waiting run looks again
)

// LockOptions say how a run takes its stack's lock.
type LockOptions struct {
	Who     record.Who
	Command string        // what the run does: deploy, rollback
	Timeout time.Duration // how long to wait for another run's lock; 0 fails at once
	// TTL is how long the lock lives unless refreshed; a run refreshes it
	// every TTL/3 while it lives, so a lock whose run died expires by itself.
	TTL  time.Duration
	Poll time.Duration // how often a waiting run looks again
	Out  io.Writer     // progress lines while waiting
	// Process is this run's process, for the Gone checks of later runs.
	Process Process
	// Gone reports that a holder's process has ended, when it can tell (a
	// run on the same machine); nil waits for every holder's expiry.
	Gone   func(LockInfo) bool
	Now    func() time.Time // the clock; nil is time.Now
	Logger *slog.Logger
}

func (o *LockOptions) defaults() {
	if o.TTL <= 0 {
		o.TTL = DefaultLockTTL
	}
	if o.Poll <= 0 {
		o.Poll = DefaultLockPoll
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// LockInfo is who holds a stack's lock, since when and until when.
type LockInfo struct {
	Stack   string     `json:"stack"`
	Who     record.Who `json:"who"`
	Command string     `json:"command,omitempty"`
	Started time.Time  `json:"started"`
	Expires time.Time  `json:"expires"` // refreshed by the holder's heartbeat (the record's state label)
	Process Process    `json:"process"`
	rec     record.Record
}

// Process is the process of a run, where a later run on the same machine
// can tell whether it still lives.
type Process struct {
	Boot string `json:"boot,omitempty"` // the machine's boot id
	PID  int    `json:"pid,omitempty"`
}

// String names the holder for a progress line or an error.
func (l LockInfo) String() string {
	s := l.Who.String()
	if l.Command != "" {
		s += " (" + l.Command + ")"
	}
	return s + " since " + l.Started.UTC().Format(time.RFC3339)
}

// LockedError is the error of a run that did not get its stack's lock in time.
type LockedError struct {
	Holder LockInfo
	Waited time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("stack %q is locked by %s, still after waiting %s; wait for that run to end, raise --lock-timeout, or break the lock with deckhand unlock %s if that run is gone",
		e.Holder.Stack, e.Holder, e.Waited.Round(time.Second), e.Holder.Stack)
}

// Lock is a held stack lock; Release gives it up.
type Lock struct {
	Info LockInfo
	// Waited is how long this run waited for another live run's lock; zero
	// when the lock was free (or its holder was gone).
	Waited time.Duration
	store  *record.Store
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// ReadLock returns the holder of the stack's lock; nil when none is held
// (an expired lock counts as held: its Expires says it is stale).
func ReadLock(ctx context.Context, api record.ReadAPI, stack string) (*LockInfo, error) {
	recs, err := record.List(ctx, api, stack, record.KindLock)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	r := recs[0]
	var info LockInfo
	if err := r.Decode(&info); err != nil {
		return nil, err
	}
	info.Stack, info.rec = stack, r
	if t, err := time.Parse(time.RFC3339Nano, r.State); err == nil {
		info.Expires = t
	}
	return &info, nil
}

// AcquireLock takes the stack's lock for this run, waiting up to
// o.Timeout for another run's lock to go (a line on o.Out names it). A lock
// whose expiry passed is broken. While held, a heartbeat refreshes the
// expiry; Release ends it.
func AcquireLock(ctx context.Context, api record.API, stack string, o LockOptions) (*Lock, error) {
	o.defaults()
	store := record.NewStore(api)
	start := o.Now()
	var shown string
	for {
		now := o.Now()
		info := LockInfo{Stack: stack, Who: o.Who, Command: o.Command, Started: now.UTC(), Expires: now.Add(o.TTL).UTC(), Process: o.Process}
		data, err := record.Encode(info)
		if err != nil {
			return nil, err
		}
		rec, err := store.Create(ctx, stack, record.KindLock, 0, info.Expires.Format(time.RFC3339Nano), data)
		if err == nil {
			info.rec = rec
			l := startHeartbeat(ctx, store, info, o)
			if shown != "" {
				l.Waited = now.Sub(start)
			}
			return l, nil
		}
		if !errors.Is(err, record.ErrTaken) {
			return nil, fmt.Errorf("lock stack %q: %w; nothing was written", stack, err)
		}
		holder, err := ReadLock(ctx, api, stack)
		if err != nil {
			return nil, fmt.Errorf("lock stack %q: %w; nothing was written", stack, err)
		}
		if holder == nil {
			continue // released between our create and our read
		}
		expired := !holder.Expires.IsZero() && now.After(holder.Expires)
		if gone := o.Gone != nil && o.Gone(*holder); expired || gone {
			// Its run died: remove exactly that record (by ID), so a lock
			// another waiter took meanwhile stays.
			why := "expired at " + holder.Expires.Format(time.RFC3339)
			if gone {
				why = fmt.Sprintf("its process %d is gone", holder.Process.PID)
			}
			fmt.Fprintf(o.Out, "stack %s: breaking the lock of %s, %s\n", stack, holder, why)
			if err := store.Remove(ctx, holder.rec); err != nil {
				return nil, err
			}
			continue
		}
		waited := now.Sub(start)
		if waited >= o.Timeout {
			return nil, &LockedError{Holder: *holder, Waited: waited}
		}
		if s := holder.String(); s != shown {
			shown = s
			fmt.Fprintf(o.Out, "stack %s is locked by %s; waiting up to %s for it\n", stack, s, (o.Timeout - waited).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock stack %q held by %s: %w", stack, holder, ctx.Err())
		case <-time.After(min(o.Poll, o.Timeout-waited)):
		}
	}
}

func startHeartbeat(ctx context.Context, store *record.Store, info LockInfo, o LockOptions) *Lock {
	hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l := &Lock{Info: info, store: store, stop: stop}
	l.done.Go(func() {
		t := time.NewTicker(o.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
			exp := o.Now().Add(o.TTL).UTC()
			if err := store.SetState(hctx, info.rec, exp.Format(time.RFC3339Nano)); err != nil && hctx.Err() == nil {
				o.Logger.Warn("cannot refresh the stack's lock; another run may take it when it expires", "component", "lock", "stack", info.Stack, "error", err)
			}
		}
	})
	return l
}

// Release stops the heartbeat and removes the lock (only this run's own
// record: a lock broken and taken by another run stays).
func (l *Lock) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.stop()
	l.done.Wait()
	return l.store.Remove(context.WithoutCancel(ctx), l.Info.rec)
}

// Unlock breaks the stack's lock on purpose and returns whom it belonged
// to; nil when none was held.
func Unlock(ctx context.Context, api record.API, stack string) (*LockInfo, error) {
	info, err := ReadLock(ctx, api, stack)
	if err != nil || info == nil {
		return nil, err
	}
	return info, record.NewStore(api).Remove(ctx, info.rec)
}
