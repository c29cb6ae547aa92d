package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/stack/deploy"
)

// defaultLockTimeout is how long deploy and rollback wait for another run's lock.
const defaultLockTimeout = 2 * time.Minute

// addLockTimeoutFlag binds --lock-timeout of deploy and rollback.
func addLockTimeoutFlag(fs *pflag.FlagSet, d *time.Duration) {
	fs.DurationVar(d, "lock-timeout", defaultLockTimeout, "how long to wait while another run holds the stack's lock (0: fail at once)")
}

// holdLock takes the stack's lock for a run of command, waiting up to
// timeout with a line on progress naming the holder; release gives it up,
// waited says whether another run held it first.
func holdLock(ctx context.Context, c *engineConn, stack, command string, timeout time.Duration, progress io.Writer) (release func(), waited bool, err error) {
	l, err := deploy.AcquireLock(ctx, c, stack, deploy.LockOptions{
		Who: whoAmI(processEnviron()), Command: command, Timeout: timeout, Out: progress, Logger: slog.Default(),
		Process: thisProcess(), Gone: processGone})
	if err != nil {
		// Taking the lock is the run's first write: a swarm without a
		// leader or an engine that is no manager refuses it. Say so as
		// preflight would, naming the managers that are down.
		if serr := deploy.CheckSwarm(ctx, c); serr != nil {
			return nil, false, serr
		}
		return nil, false, err
	}
	return func() {
		if err := l.Release(ctx); err != nil {
			slog.Warn("cannot release the stack's lock; it expires by itself", "component", "lock", "stack", stack, "error", err)
		}
	}, l.Waited > 0, nil
}

// lockNote says, for plan, that another run holds the stack's lock; "" when none does.
func lockNote(ctx context.Context, c *engineConn, stack string) string {
	info, err := deploy.ReadLock(ctx, c, stack)
	if err != nil || info == nil {
		return ""
	}
	if processGone(*info) {
		return fmt.Sprintf("note: stack %s has a lock of %s whose process %d is gone; the next deploy breaks it", stack, info, info.Process.PID)
	}
	if time.Now().After(info.Expires) {
		return fmt.Sprintf("note: stack %s has a lock of %s that expired at %s (its run is gone); the next deploy breaks it",
			stack, info, info.Expires.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("note: stack %s is locked by %s; a deploy now waits for that run (deckhand unlock %s breaks the lock if that run is gone)",
		stack, info, stack)
}

// thisProcess is this run's process: the machine's boot id and the pid.
func thisProcess() deploy.Process {
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return deploy.Process{Boot: strings.TrimSpace(string(boot)), PID: os.Getpid()}
}

// processGone reports that a lock's holder ran on this machine (same host
// name and boot id) and its process has ended. Anything it cannot tell
// is not gone: that lock waits for its expiry.
func processGone(l deploy.LockInfo) bool {
	self := thisProcess()
	host, _ := os.Hostname()
	if self.Boot == "" || l.Process.Boot != self.Boot || l.Who.Host != host || l.Process.PID <= 0 {
		return false
	}
	p, err := os.FindProcess(l.Process.PID)
	if err != nil {
		return false
	}
	return errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}
