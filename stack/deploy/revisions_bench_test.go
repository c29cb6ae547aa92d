package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/compose"
)

// fiftyServices writes a 50-service stack over one image, with no tasks to
// run (the figures are deckhand's and the engine's work, not container
// start-up), whose env changes with ${VERSION}, and returns its path.
func fiftyServices(b *testing.B, image string) string {
	b.Helper()
	var s strings.Builder
	s.WriteString("services:\n")
	for i := range 50 {
		fmt.Fprintf(&s, "  svc%02d:\n    image: %s\n    environment:\n      INDEX: \"%d\"\n      VERSION: ${VERSION}\n    deploy:\n      replicas: 0\n", i, image, i)
	}
	file := filepath.Join(b.TempDir(), "fifty.yml")
	if err := os.WriteFile(file, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return file
}

// BenchmarkRevisionCost measures what recording a revision adds to a deploy
// with changes, on a 50-service stack whose env changes on every deploy
// (--resolve-image always through the authenticated registry, detached):
//
//	deploy-s   the median deploy with changes, without recording
//	record-ms  the median time of the recording itself against the engine,
//	           timed around it (render, compress, list, create, relabel,
//	           trim to 10), as a deploy runs it
//
// A with-and-without comparison of whole deploys is reported too
// (deploy-recorded-s), but the engine's own variance is larger than the
// record's cost.
func BenchmarkRevisionCost(b *testing.B) {
	e := newE2E(b)
	file := fiftyServices(b, e.image)
	ctx := context.Background()
	plain, recorded := testenv.UniqueName(b), testenv.UniqueName(b)
	removeStackOnCleanup(b, e.c, plain)
	removeStackOnCleanup(b, e.c, recorded)
	version := 0
	options := func(out *bytes.Buffer, rec bool) Options {
		o := e.options(b, out)
		o.Wait = false
		if rec {
			o.Revision = &RevisionOptions{}
		}
		return o
	}
	load := func(name string) *compose.Stack {
		b.Helper()
		version++
		st, err := compose.Load(ctx, compose.Options{Name: name, Files: []string{file}, Environ: map[string]string{"VERSION": fmt.Sprint(version)}})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	deploy := func(name string, rec bool) time.Duration {
		b.Helper()
		st := load(name)
		var out bytes.Buffer
		start := time.Now()
		res, err := Deploy(ctx, e.c, st, options(&out, rec))
		d := time.Since(start)
		if err != nil || (rec && res.Revision == 0) {
			b.Fatalf("deploy %s: %v (revision %d)\n%s", name, err, res.Revision, out.String())
		}
		return d
	}
	deploy(plain, false)
	deploy(recorded, true)
	var without, with, cost []time.Duration
	for i := 0; i < b.N; i++ {
		for range 7 {
			without = append(without, deploy(plain, false))
			with = append(with, deploy(recorded, true))
		}
		for range 12 {
			var out bytes.Buffer
			o := options(&out, true)
			o.defaults() // as DeployFrom does before it records
			prep, err := Prepare(ctx, e.c, load(recorded), o)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			run, err := beginRevision(ctx, e.c, recorded, prep, o)
			if err != nil {
				b.Fatal(err)
			}
			res := &Result{Outcome: OutcomeApplied}
			run.finish(ctx, res)
			cost = append(cost, time.Since(start))
			if len(res.Warnings) > 0 {
				b.Fatalf("recording warned: %v", res.Warnings)
			}
		}
	}
	b.ReportMetric(median(without).Seconds(), "deploy-s")
	b.ReportMetric(median(with).Seconds(), "deploy-recorded-s")
	b.ReportMetric(float64(median(cost))/float64(time.Millisecond), "record-ms")
}

// BenchmarkHistoryStatus50Services10Revisions times deckhand history,
// status and a no-op deploy, as processes, on a 50-service stack with 10
// recorded revisions (the median of 5 runs each).
func BenchmarkHistoryStatus50Services10Revisions(b *testing.B) {
	e := newE2E(b)
	file := fiftyServices(b, e.image)
	dir := b.TempDir()
	bin := filepath.Join(dir, "deckhand")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/deckhand").CombinedOutput(); err != nil {
		b.Fatalf("build deckhand: %v\n%s", err, out)
	}
	name := testenv.UniqueName(b)
	removeStackOnCleanup(b, e.c, name)
	run := func(version string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+e.dockerCfg, "VERSION="+version)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("deckhand %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return d
	}
	deployArgs := []string{"deploy", "--detach", "--with-registry-auth", "-c", file, name}
	for v := 1; v <= 10; v++ {
		run(fmt.Sprint(v), deployArgs...)
	}
	var history, status, noop []time.Duration
	for i := 0; i < b.N; i++ {
		for range 5 {
			history = append(history, run("10", "history", name))
			status = append(status, run("10", "status", name))
			noop = append(noop, run("10", deployArgs...))
		}
	}
	b.ReportMetric(median(history).Seconds()*1000, "history-ms")
	b.ReportMetric(median(status).Seconds()*1000, "status-ms")
	b.ReportMetric(median(noop).Seconds()*1000, "noop-deploy-ms")
}
