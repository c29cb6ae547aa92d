package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/revision"
)

// killedServices is the size of the change killed mid-way.
const killedServices = 20

// TestDeployKilledMidwayE2E kills (SIGKILL) a deploy of a 20-service change
// at ten points spread over its writes. After each, plan reports the
// unfinished run and how far it got; then, turn by turn, deploy --atomic
// first restores the revision before it (recorded as a rollback to it, the
// same specs) and a plain deploy writes the file over it; either way the
// stack ends fully on the file's version and nothing is reported again.
func TestDeployKilledMidwayE2E(t *testing.T) {
	c := testenv.Engine(t)
	name := testenv.UniqueName(t)
	t.Cleanup(func() { removeServices(t, c, name) })
	dir := t.TempDir()
	bin := buildDeckhand(t, dir)
	file := writeIdleStack(t, dir, "s%02d", killedServices)
	command := func(version string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+c.DaemonHost(), "VERSION="+version)
		return cmd
	}
	run := func(version string, args ...string) string {
		t.Helper()
		out, err := command(version, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("deckhand %s (VERSION=%s): %v\n%s", strings.Join(args, " "), version, err, out)
		}
		return string(out)
	}
	// --detach and replicas 0: the writes are what is killed, not tasks.
	deployArgs := []string{"deploy", "--detach", "--resolve-image", "never", "-c", file, name}
	run("0", deployArgs...)
	written := regexp.MustCompile(`revision (\d+) \(deploy by .*\) did not finish: it had written (\d+) of the (\d+) services`)
	for point := range 10 {
		kill := 1 + 2*point // after the 1st, 3rd, ... 19th of 20 service writes
		version := strconv.Itoa(point + 1)
		killAfter(t, command(version, append([]string{"deploy", "--parallel", "1"}, deployArgs[1:]...)...), "Updating service ", kill)

		plan := run(version, "plan", "--resolve-image", "never", "-c", file, name)
		m := written.FindStringSubmatch(plan)
		if m == nil {
			t.Fatalf("kill after write %d: plan does not report the unfinished run:\n%s", kill, plan)
		}
		if n, _ := strconv.Atoi(m[2]); n < kill || m[3] != strconv.Itoa(killedServices) {
			t.Errorf("kill after write %d: plan says %s of %s written", kill, m[2], m[3])
		}
		unfinished, _ := strconv.Atoi(m[1])
		if point%2 == 0 {
			out := run(version, append([]string{"deploy", "--atomic"}, deployArgs[1:]...)...)
			if !strings.Contains(out, fmt.Sprintf("atomic: restoring revision %d,", unfinished-1)) {
				t.Fatalf("kill after write %d: deploy --atomic did not restore revision %d first:\n%s", kill, unfinished-1, out)
			}
			assertRestored(t, c, name, unfinished)
		} else {
			out := run(version, deployArgs...)
			if !strings.Contains(out, "did not finish") || !strings.Contains(out, "writing over it") {
				t.Fatalf("kill after write %d: deploy does not say it writes over the unfinished run:\n%s", kill, out)
			}
		}
		if got := stackVersions(t, c, name, killedServices); len(got) != 1 || !got[version] {
			t.Fatalf("kill after write %d: the services carry versions %v, want all %s", kill, got, version)
		}
		if plan := run(version, "plan", "--resolve-image", "never", "-c", file, name); strings.Contains(plan, "did not finish") {
			t.Fatalf("kill after write %d: the unfinished run is reported again:\n%s", kill, plan)
		}
	}
}

// killAfter starts cmd and kills it (SIGKILL) once its output has n lines
// starting with prefix.
func killAfter(t *testing.T, cmd *exec.Cmd, prefix string, n int) {
	t.Helper()
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); w.Close() }()
	var seen bytes.Buffer
	sc := bufio.NewScanner(r)
	for count := 0; sc.Scan(); {
		seen.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), prefix) {
			if count++; count == n {
				_ = cmd.Process.Kill()
				break
			}
		}
	}
	go io.Copy(io.Discard, r)
	if err := <-done; err == nil {
		t.Fatalf("the deploy ended before its write %d could be killed:\n%s", n, seen.String())
	}
}

// assertRestored checks that the run after the unfinished one restored the
// revision before it: a rollback to it, with its specs, that was written.
func assertRestored(t *testing.T, c interface {
	deploy.StatusAPI
}, stack string, unfinished int) {
	t.Helper()
	revs, err := deploy.Revisions(context.Background(), c, stack)
	if err != nil {
		t.Fatal(err)
	}
	byNumber := map[int]*revision.Revision{}
	for _, r := range revs {
		byNumber[r.Number] = r
	}
	prev, lost, restore := byNumber[unfinished-1], byNumber[unfinished], byNumber[unfinished+1]
	switch {
	case prev == nil || lost == nil || restore == nil:
		t.Fatalf("revisions %d to %d are not all recorded", unfinished-1, unfinished+1)
	case lost.Outcome != revision.OutcomeInterrupted:
		t.Errorf("revision %d is %q, want interrupted", unfinished, lost.Outcome)
	case restore.Action != revision.ActionRollback || restore.From != strconv.Itoa(unfinished-1) || restore.Outcome != revision.OutcomeApplied:
		t.Errorf("revision %d is %s from %q, %s; want a rollback to %d, applied", unfinished+1, restore.Action, restore.From, restore.Outcome, unfinished-1)
	case len(revision.Compare(prev.Services, restore.Services)) > 0:
		t.Errorf("the restore (revision %d) did not write revision %d's specs: %+v", unfinished+1, unfinished-1, revision.Compare(prev.Services, restore.Services))
	}
}
