package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// The front-door rule: no request through nginx fails while swarm reports a
// running task of the service. swarm reports a task running only once its
// health check passed, so "running" is "running and healthy" here. A
// taskWatch samples what swarm reports while a phase runs; judge then sorts
// the phase's failed requests into those that happened while swarm had no
// running task (swarm's) and the rest (the front door's, a test failure).

const (
	// samplePeriod is how often the task watch asks swarm.
	samplePeriod = 200 * time.Millisecond
	// reaction is how long nginx may take to list a task that swarm just
	// reported running: watch's debounce, the render, nginx -t and the reload
	// (watch's target is within a second).
	reaction = time.Second
)

// taskSample is what swarm reported at one moment.
type taskSample struct {
	at      time.Time
	known   bool     // a manager answered
	running []string // node:port of the tasks running with desired state running
}

// taskWatch samples the web service's tasks through whichever manager answers.
type taskWatch struct {
	s       *scenario
	mu      sync.Mutex
	samples []taskSample
	stop    chan struct{}
	done    chan struct{}
}

func (s *scenario) watchTasks() *taskWatch {
	w := &taskWatch{s: s, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(samplePeriod)
		defer tick.Stop()
		for {
			w.sample()
			select {
			case <-w.stop:
				w.sample()
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// sample asks the managers in turn; the first answer counts.
func (w *taskWatch) sample() {
	var sm taskSample
	for _, c := range w.s.bed.Clients() {
		ctx, cancel := context.WithTimeout(context.Background(), samplePeriod)
		tasks, err := c.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", w.s.stack+"_web")})
		cancel()
		if err != nil {
			continue
		}
		sm.known = true
		for _, tk := range tasks.Items {
			if tk.Status.State != swarm.TaskStateRunning || tk.DesiredState != swarm.TaskStateRunning {
				continue
			}
			sm.running = append(sm.running, w.s.taskAddr(tk))
		}
		slices.Sort(sm.running)
		break
	}
	sm.at = time.Now()
	w.mu.Lock()
	w.samples = append(w.samples, sm)
	w.mu.Unlock()
}

// end stops the watch and returns its samples.
func (w *taskWatch) end() []taskSample {
	close(w.stop)
	<-w.done
	return w.samples
}

// taskAddr is "node:published port" of a task, as nginx would list it.
func (s *scenario) taskAddr(tk swarm.Task) string {
	node := tk.NodeID
	for _, n := range s.bed.Nodes {
		if n.ID == tk.NodeID {
			node = n.Addr
		}
	}
	var port uint32
	if tk.Status.PortStatus.Ports != nil {
		for _, p := range tk.Status.PortStatus.Ports {
			port = p.PublishedPort
		}
	}
	return fmt.Sprintf("%s:%d", node, port)
}

// window is a span in which swarm reported no running task of the service.
type window struct{ from, to time.Time }

func (w window) String() string {
	return fmt.Sprintf("%s–%s (%.1fs)", w.from.Format("15:04:05.0"), w.to.Format("15:04:05.0"), w.to.Sub(w.from).Seconds())
}

// noTaskWindows lists the spans without a running task. A sample no manager
// answered (no quorum) keeps the last known answer: the tasks that ran then
// keep running. A span starts at the last sample that still saw a task,
// since the task may have stopped right after it, and ends at the first
// sample that sees one again.
func noTaskWindows(samples []taskSample) []window {
	var out []window
	lastSeen := time.Time{}
	running := -1 // unknown before the first answer
	var open *window
	for _, sm := range samples {
		if sm.known {
			running = len(sm.running)
		}
		switch {
		case running == 0 && open == nil:
			from := lastSeen
			if from.IsZero() {
				from = sm.at
			}
			open = &window{from: from}
		case running > 0 && open != nil:
			open.to = sm.at
			out = append(out, *open)
			open = nil
		}
		if running > 0 {
			lastSeen = sm.at
		}
	}
	if open != nil && len(samples) > 0 {
		open.to = samples[len(samples)-1].at
		out = append(out, *open)
	}
	return out
}

// failure is one request that did not get an answer from the service.
type failure struct {
	start, end time.Time
	err        string
}

// frontDoor is the judgement of a phase's failures.
type frontDoor struct {
	windows []window  // swarm had no running task
	swarms  int       // failures inside a window (or within reaction after it)
	ours    []failure // failures while swarm reported a running task
}

// judge sorts failures by the no-task windows of samples.
func judge(samples []taskSample, failures []failure) frontDoor {
	fd := frontDoor{windows: noTaskWindows(samples)}
	for _, f := range failures {
		excused := slices.ContainsFunc(fd.windows, func(w window) bool {
			return !f.end.Before(w.from) && !f.start.After(w.to.Add(reaction))
		})
		if excused {
			fd.swarms++
		} else {
			fd.ours = append(fd.ours, f)
		}
	}
	return fd
}

// note is the summary line's part about the front door.
func (fd frontDoor) note() string {
	if len(fd.windows) == 0 && fd.swarms == 0 && len(fd.ours) == 0 {
		return ""
	}
	var ws []string
	for _, w := range fd.windows {
		ws = append(ws, w.String())
	}
	return fmt.Sprintf("no running task %s; %d failed then, %d while a task ran", strings.Join(ws, ", "), fd.swarms, len(fd.ours))
}

// explain describes the front door's failures for the test log: the first
// few, the tasks swarm reported around each, and nginx's errors then.
func (s *scenario) explain(phase string, samples []taskSample, fd frontDoor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s: %d requests failed while swarm reported a running task (windows without one: %v)\n", phase, len(fd.ours), fd.windows)
	for i, f := range fd.ours {
		if i == 5 {
			fmt.Fprintf(&b, "  ... and %d more\n", len(fd.ours)-i)
			break
		}
		fmt.Fprintf(&b, "  %s–%s %s; swarm reported running: %v\n", f.start.Format("15:04:05.000"), f.end.Format("15:04:05.000"), f.err, runningAt(samples, f.start))
	}
	if errs := s.nginxErrors(fd.ours); errs != "" {
		fmt.Fprintf(&b, "nginx's error log then:\n%s", errs)
	}
	return b.String()
}

// runningAt is what the last sample before t reported.
func runningAt(samples []taskSample, t time.Time) []string {
	var out []string
	for _, sm := range samples {
		if sm.at.After(t) {
			break
		}
		if sm.known {
			out = sm.running
		}
	}
	return out
}

// nginxErrors returns the lines of nginx's error log written during the
// failures (the log's clock has seconds: the seconds they span).
func (s *scenario) nginxErrors(fs []failure) string {
	if len(fs) == 0 {
		return ""
	}
	b, err := os.ReadFile(s.nginxDir + "/logs/error.log")
	if err != nil {
		return err.Error() + "\n"
	}
	seconds := map[string]bool{}
	for _, f := range fs {
		for t := f.start.Truncate(time.Second); !t.After(f.end); t = t.Add(time.Second) {
			seconds[t.Local().Format("2006/01/02 15:04:05")] = true
		}
	}
	var out strings.Builder
	n := 0
	for line := range strings.Lines(string(b)) {
		if len(line) >= 19 && seconds[line[:19]] {
			if n++; n > 40 {
				out.WriteString("  ...\n")
				break
			}
			out.WriteString("  " + line)
		}
	}
	return out.String()
}
