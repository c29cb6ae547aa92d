package e2e

import (
	"testing"
	"time"
)

// TestJudge holds the front-door rule's bookkeeping: failures inside a span
// without a running task (or within the reaction time after it) are swarm's,
// the others are the front door's; an unanswered sample keeps the last answer.
func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	up := []string{"10.99.0.11:30001"}
	samples := []taskSample{
		{at: at(0), known: true, running: up},
		{at: at(200), known: true},              // the task stopped after 0
		{at: at(400), known: false},             // no quorum: still none
		{at: at(600), known: true, running: up}, // back
		{at: at(800), known: false},             // no quorum: still running
		{at: at(1000), known: true, running: up},
	}
	ws := noTaskWindows(samples)
	if len(ws) != 1 || !ws[0].from.Equal(at(0)) || !ws[0].to.Equal(at(600)) {
		t.Fatalf("windows = %v, want one from 0 to 600 ms", ws)
	}
	fd := judge(samples, []failure{
		{start: at(100), end: at(150)},   // inside: swarm's
		{start: at(1500), end: at(1550)}, // within reaction after 600: swarm's
		{start: at(1700), end: at(1750)}, // a task ran for over a second: ours
		{start: at(850), end: at(900)},   // within reaction after 600: swarm's
	})
	if fd.swarms != 3 || len(fd.ours) != 1 || !fd.ours[0].start.Equal(at(1700)) {
		t.Errorf("judge: swarm's %d, ours %v; want 3 and the one at 1700 ms", fd.swarms, fd.ours)
	}
	if got := judge(samples[3:], []failure{{start: at(850), end: at(900)}}); len(got.ours) != 1 || len(got.windows) != 0 {
		t.Errorf("a failure while only running tasks were reported: %+v, want it counted as the front door's", got)
	}
	if got := noTaskWindows([]taskSample{{at: at(0), known: true}, {at: at(200), known: true}}); len(got) != 1 || !got[0].to.Equal(at(200)) {
		t.Errorf("a phase that ends without a task: %v, want one window to its last sample", got)
	}
}
