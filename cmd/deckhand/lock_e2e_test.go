package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/record"
)

// writeIdleStack writes DIR/stack.yml with n services named by nameFormat,
// each with replicas 0 and VERSION from the environment: deploys of it cost
// engine writes but no containers.
func writeIdleStack(t *testing.T, dir, nameFormat string, n int) string {
	t.Helper()
	var yml strings.Builder
	yml.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&yml, "  "+nameFormat+":\n    image: busybox:latest\n    command: [\"sleep\", \"1d\"]\n    environment:\n      VERSION: ${VERSION}\n    deploy:\n      replicas: 0\n", i)
	}
	file := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(file, []byte(yml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// lockRaceServices is how many services the racing deploys write: enough
// that two unlocked runs interleave their writes.
const lockRaceServices = 12

// TestConcurrentDeploysOneAtATimeE2E starts two deploys of different
// versions of one stack together, from two processes, ten times. Every time
// the engine's events show the runs' writes one after the other, each inside
// its own life of the stack's lock, and the stack ends fully on the version
// of the run that wrote last, never a mix. A run that waited for the other's
// lock (its progress names the holder) is the one that wrote last. How the
// two processes are scheduled decides whether the second one finds the
// first one's lock or only its result, so waiting is asked of the rounds
// together, not of each one.
func TestConcurrentDeploysOneAtATimeE2E(t *testing.T) {
	c := testenv.Engine(t)
	name := testenv.UniqueName(t)
	t.Cleanup(func() { removeServices(t, c, name) })
	dir := t.TempDir()
	bin := buildDeckhand(t, dir)
	// Replicas 0 and --detach: the writes and the lock are what is tested,
	// not tasks.
	file := writeIdleStack(t, dir, "s%d", lockRaceServices)
	deployVersion := func(v string) (string, error) {
		cmd := exec.Command(bin, "deploy", "--detach", "--resolve-image", "never", "--lock-timeout", "1m", "-c", file, name)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+c.DaemonHost(), "VERSION="+v)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	if out, err := deployVersion("0"); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	waits := 0
	for round := range 10 {
		events := watchStackEvents(t, c, name)
		a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
		var outA, outB string
		var errA, errB error
		var wg sync.WaitGroup
		wg.Go(func() { outA, errA = deployVersion(a) })
		wg.Go(func() { outB, errB = deployVersion(b) })
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("round %d: deploy %s: %v, deploy %s: %v\n%s\n%s", round, a, errA, b, errB, outA, outB)
		}
		unlock := "config remove " + name + ".lock"
		seen := events.until(t, func(ev []string) bool { return count(ev, unlock) >= 2 })
		if err := writesOneAtATime(seen, name, lockRaceServices, 2); err != nil {
			t.Errorf("round %d: %v\n%s\n%s", round, err, outA, outB)
		}
		revA, revB := revisionOf(t, outA), revisionOf(t, outB)
		want := a // the run that recorded the later revision wrote last
		if revB > revA {
			want = b
		}
		waitedA, waitedB := strings.Contains(outA, "is locked by"), strings.Contains(outB, "is locked by")
		if waitedA && waitedB || waitedA && want != a || waitedB && want != b {
			t.Errorf("round %d: %s waited %v (revision %d), %s waited %v (revision %d); want only the run that wrote last to have waited\n%s\n%s",
				round, a, waitedA, revA, b, waitedB, revB, outA, outB)
		}
		if waitedA || waitedB {
			waits++
		}
		if got := stackVersions(t, c, name, lockRaceServices); len(got) != 1 || !got[want] {
			t.Fatalf("round %d: the stack's services run versions %v, want all %s\n%s\n%s", round, got, want, outA, outB)
		}
		if info, err := deploy.ReadLock(context.Background(), c, name); err != nil || info != nil {
			t.Fatalf("round %d: after both runs the lock is %v, %v; want none", round, info, err)
		}
	}
	if waits == 0 {
		t.Errorf("in none of 10 rounds did one run wait for the other's lock: the runs never overlapped, so the lock was not tried")
	}
}

// writesOneAtATime checks a stack's engine events (as watchStackEvents
// gives them) for runs writing one at a time: every service update falls inside a
// life of the stack's lock record, and each of the want lives updates all n
// services once.
func writesOneAtATime(events []string, stack string, n, want int) error {
	lock := "config create " + stack + ".lock"
	unlock := "config remove " + stack + ".lock"
	var held map[string]bool // the services updated under the lock held now
	lives := 0
	for _, e := range events {
		switch {
		case e == lock:
			held = map[string]bool{}
		case e == unlock:
			if held == nil {
				return fmt.Errorf("lock removed while none was held: %v", events)
			}
			if len(held) != n {
				return fmt.Errorf("a run updated %d services under its lock, want %d: %v", len(held), n, events)
			}
			held = nil
			lives++
		case strings.HasPrefix(e, "service update "+stack+"_"):
			s := strings.TrimPrefix(e, "service update ")
			if held == nil {
				return fmt.Errorf("%s was updated while no run held the lock: %v", s, events)
			}
			if held[s] {
				return fmt.Errorf("%s was updated twice under one lock, so two runs wrote at once: %v", s, events)
			}
			held[s] = true
		}
	}
	if lives != want {
		return fmt.Errorf("the lock was taken and released %d times, want %d: %v", lives, want, events)
	}
	return nil
}

func TestWritesOneAtATime(t *testing.T) {
	lock, unlock := "config create st.lock", "config remove st.lock"
	a, b := "service update st_a", "service update st_b"
	for _, c := range []struct {
		events []string
		ok     bool
	}{
		{[]string{lock, a, b, unlock, "config create st.rev.1", lock, b, a, unlock}, true},
		{[]string{lock, a, b, unlock, lock, b, a}, false},            // second lock never released
		{[]string{lock, a, b, a, unlock, lock, b, a, unlock}, false}, // two runs under one lock
		{[]string{a, lock, b, unlock, lock, b, a, unlock}, false},    // a write without the lock
		{[]string{lock, a, unlock, lock, b, a, unlock}, false},       // a run that wrote half
	} {
		if err := writesOneAtATime(c.events, "st", 2, 2); (err == nil) != c.ok {
			t.Errorf("writesOneAtATime(%v) = %v, want ok %v", c.events, err, c.ok)
		}
	}
}

// revisionOf is the revision a deploy's output says it recorded.
func revisionOf(t *testing.T, out string) int {
	t.Helper()
	_, after, ok := strings.Cut(out, "; revision ")
	if ok {
		if n, err := strconv.Atoi(strings.Fields(after)[0]); err == nil {
			return n
		}
	}
	t.Fatalf("no revision in the deploy's output:\n%s", out)
	return 0
}

// TestLockHeldE2E: while another run holds the stack's lock, plan says so,
// deploy waits --lock-timeout then exits 1 naming the holder, and deckhand
// unlock breaks the lock.
func TestLockHeldE2E(t *testing.T) {
	c := testenv.Engine(t)
	name := testenv.UniqueName(t)
	t.Cleanup(func() { removeServices(t, c, name) })
	ctx := context.Background()
	other := record.Who{User: "ci-bot", Host: "runner-7"}
	l, err := deploy.AcquireLock(ctx, c, name, deploy.LockOptions{Who: other, Command: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	file := filepath.Join(t.TempDir(), "stack.yml")
	if err := os.WriteFile(file, []byte("services:\n  s:\n    image: busybox:latest\n    deploy:\n      replicas: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errw bytes.Buffer
		code := newCLI(strings.NewReader(""), &out, &errw).run(append([]string{"deckhand"}, args...))
		return code, out.String() + errw.String()
	}
	if code, out := run("plan", "--resolve-image", "never", "-c", file, name); code != 0 || !strings.Contains(out, "is locked by ci-bot@runner-7 (deploy)") {
		t.Errorf("plan: exit %d, want 0 and a note naming the holder:\n%s", code, out)
	}
	code, out := run("deploy", "--detach", "--resolve-image", "never", "--lock-timeout", "1s", "-c", file, name)
	if code != 1 || !strings.Contains(out, "waiting up to 1s") || !strings.Contains(out, "locked by ci-bot@runner-7 (deploy)") || !strings.Contains(out, "deckhand unlock "+name) {
		t.Errorf("deploy while locked: exit %d, want 1 naming the holder and the way out:\n%s", code, out)
	}
	if code, out := run("unlock", name); code != 0 || !strings.Contains(out, "broke the lock of stack "+name+" held by ci-bot@runner-7") {
		t.Errorf("unlock: exit %d\n%s", code, out)
	}
	if code, out := run("deploy", "--detach", "--resolve-image", "never", "--lock-timeout", "0s", "-c", file, name); code != 0 {
		t.Errorf("deploy after unlock: exit %d\n%s", code, out)
	}
}

// stackVersions are the VERSION values the stack's services carry.
func stackVersions(t *testing.T, c *client.Client, stack string, n int) map[string]bool {
	t.Helper()
	f := make(client.Filters).Add("label", "com.docker.stack.namespace="+stack)
	res, err := c.ServiceList(context.Background(), client.ServiceListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != n {
		t.Fatalf("stack %s has %d services, want %d", stack, len(res.Items), n)
	}
	got := map[string]bool{}
	for _, s := range res.Items {
		for _, e := range s.Spec.TaskTemplate.ContainerSpec.Env {
			if v, ok := strings.CutPrefix(e, "VERSION="); ok {
				got[v] = true
			}
		}
	}
	return got
}

// TestNoOpDeployWritesNothingE2E: a deploy that changes nothing writes
// nothing to the swarm, not even its lock: the engine reports no event of the
// stack's configs, secrets, networks or services while it runs. A deploy with
// a change takes the lock (its record is created and removed) and updates.
func TestNoOpDeployWritesNothingE2E(t *testing.T) {
	c := testenv.Engine(t)
	name := testenv.UniqueName(t)
	t.Cleanup(func() { removeServices(t, c, name) })
	dir := t.TempDir()
	bin := buildDeckhand(t, dir)
	file := writeIdleStack(t, dir, "s%02d", 3)
	run := func(version string, done func([]string) bool) []string {
		t.Helper()
		events := watchStackEvents(t, c, name)
		cmd := exec.Command(bin, "deploy", "--detach", "--resolve-image", "never", "-c", file, name)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+c.DaemonHost(), "VERSION="+version)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("deploy VERSION=%s: %v\n%s", version, err, out)
		}
		return events.until(t, done)
	}
	atOnce := func([]string) bool { return true } // a no-op: only the second after it
	run("1", func(ev []string) bool { return slices.Contains(ev, "config remove "+name+".lock") })
	if ev := run("1", atOnce); len(ev) != 0 {
		t.Errorf("a no-op deploy wrote to the swarm: %v", ev)
	}
	ev := run("2", func(ev []string) bool { return slices.Contains(ev, "config remove "+name+".lock") })
	if !slices.Contains(ev, "config create "+name+".lock") || !slices.Contains(ev, "config remove "+name+".lock") || !slices.Contains(ev, "service update "+name+"_s00") {
		t.Errorf("a deploy with a change: events %v, want its lock created and removed and the services updated", ev)
	}
}

// stackWatch collects the engine's events of a stack's configs, secrets,
// networks and services as "TYPE ACTION NAME", in the engine's order.
type stackWatch struct {
	mu     sync.Mutex
	events []string
	err    error
	cancel context.CancelFunc
}

// watchStackEvents starts collecting the stack's events from this second
// on. It asks the engine for the events since then rather than for a past
// window afterwards: the engine replays only a short history of its recent
// events of every kind, which a busy engine's health checks overwrite
// within seconds (a round once saw one of its two lock lives). The
// engine stamps these events in whole seconds here, so it first waits for
// the next second: what ran before lies in an earlier one.
func watchStackEvents(t *testing.T, c *client.Client, stack string) *stackWatch {
	t.Helper()
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	ctx, cancel := context.WithCancel(context.Background())
	w := &stackWatch{cancel: cancel}
	t.Cleanup(cancel)
	res := c.Events(ctx, client.EventsListOptions{
		Since:   strconv.FormatInt(time.Now().Unix(), 10),
		Filters: make(client.Filters).Add("type", "config", "secret", "network", "service")})
	go func() {
		for {
			select {
			case m, ok := <-res.Messages:
				if !ok {
					return
				}
				if n := m.Actor.Attributes["name"]; strings.HasPrefix(n, stack) {
					w.mu.Lock()
					w.events = append(w.events, fmt.Sprintf("%s %s %s", m.Type, m.Action, n))
					w.mu.Unlock()
				}
			case err := <-res.Err:
				if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
					w.mu.Lock()
					w.err = err
					w.mu.Unlock()
				}
				return
			}
		}
	}()
	return w
}

// until waits up to 10 seconds for done to hold of the events seen, then a
// second more for stragglers, stops watching and returns them.
func (w *stackWatch) until(t *testing.T, done func([]string) bool) []string {
	t.Helper()
	defer w.cancel()
	snapshot := func() ([]string, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return slices.Clone(w.events), w.err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ev, _ := snapshot(); done(ev) {
			break
		}
	}
	time.Sleep(time.Second)
	ev, err := snapshot()
	if err != nil {
		t.Fatalf("read the engine's events: %v", err)
	}
	return ev
}

// count is how many of events equal e.
func count(events []string, e string) int {
	n := 0
	for _, x := range events {
		if x == e {
			n++
		}
	}
	return n
}
