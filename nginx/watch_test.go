package nginx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/deckhand/deckhand/discovery"
)

// fakeSource is a swarm whose model the test sets; every Subscribe opens a
// new stream the test can signal or break.
type fakeSource struct {
	mu       sync.Mutex
	model    discovery.Model
	warnings []error
	err      error
	reads    []time.Time
	subs     []time.Time
	events   chan struct{}
	errs     chan error
}

func (f *fakeSource) Read(context.Context) (discovery.Model, []error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, time.Now())
	return f.model, f.warnings, f.err
}

func (f *fakeSource) Subscribe(ctx context.Context) (<-chan struct{}, <-chan error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, time.Now())
	f.events = make(chan struct{}, 1)
	f.errs = make(chan error, 1)
	if f.err != nil { // engine down: the stream fails at once
		f.errs <- f.err
	}
	return f.events, f.errs
}

func (f *fakeSource) set(m discovery.Model, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.model, f.err = m, err
}

func (f *fakeSource) event() {
	f.mu.Lock()
	ch := f.events
	f.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (f *fakeSource) breakStream() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs <- errors.New("unexpected EOF")
}

func (f *fakeSource) counts() (reads, subs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reads), len(f.subs)
}

// fakeApplier records every apply; data containing failOn fails its test.
type fakeApplier struct {
	mu      sync.Mutex
	failOn  string
	applied []applyCall
	current []byte
}

type applyCall struct {
	at   time.Time
	data string
}

func (f *fakeApplier) Apply(_ context.Context, data []byte) (Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, applyCall{time.Now(), string(data)})
	if f.failOn != "" && bytes.Contains(data, []byte(f.failOn)) {
		return Result{}, &CommandError{Step: StepTest, Command: "nginx -t", Err: errors.New("exit status 1")}
	}
	if bytes.Equal(data, f.current) {
		return Result{}, nil
	}
	f.current = bytes.Clone(data)
	return Result{Changed: true, Tested: true, Reloaded: true}, nil
}

func (f *fakeApplier) calls() []applyCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]applyCall(nil), f.applied...)
}

// modelN is one service with n servers; settling marks it converging.
func modelN(n int, settling bool) discovery.Model {
	u := discovery.Upstream{Name: "app_web", TargetPort: 80, Servers: []discovery.Server{}}
	for i := 1; i <= n; i++ {
		u.Servers = append(u.Servers, discovery.Server{Addr: fmt.Sprintf("10.0.0.%d", i), Port: 30000})
	}
	return discovery.Model{Services: []discovery.Service{{Stack: "app", Name: "app_web", Settling: settling,
		Upstreams: []discovery.Upstream{u}, Routes: []discovery.Route{{Path: "/", Upstream: "app_web"}}}}}
}

var testTiming = Timing{
	FastPoll: 250 * time.Millisecond, SlowPoll: 2 * time.Second,
	DebounceMin: 200 * time.Millisecond, DebounceMax: 2 * time.Second,
	Resync: time.Hour, BackoffMin: 500 * time.Millisecond, BackoffMax: 30 * time.Second,
	KeepRemoved: time.Minute,
}

// startWatch runs Watch in the bubble and returns a stop function.
func startWatch(t *testing.T, src *fakeSource, app *fakeApplier, met *Metrics) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- Watch(ctx, WatchConfig{Source: src, Template: DefaultTemplate(), HTTPPort: 80, Applier: app,
			Timing: testTiming, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: met})
	}()
	synctest.Wait()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch returned %v", err)
		}
	}
}

func TestWatchAppliesAtStartThenOnEventAfterQuietWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		src := &fakeSource{model: modelN(1, false)}
		app := &fakeApplier{}
		stop := startWatch(t, src, app, nil)
		defer stop()
		if c := app.calls(); len(c) != 1 || !c[0].at.Equal(start) {
			t.Fatalf("want one apply at start, got %v", c)
		}

		time.Sleep(time.Second)
		src.set(modelN(2, false), nil)
		changed := time.Now()
		src.event()
		time.Sleep(testTiming.DebounceMin)
		synctest.Wait()
		c := app.calls()
		if len(c) != 2 {
			t.Fatalf("want the change applied one quiet window after the event, got %d applies", len(c))
		}
		if d := c[1].at.Sub(changed); d != testTiming.DebounceMin {
			t.Fatalf("applied %v after the event, want %v", d, testTiming.DebounceMin)
		}
		if !strings.Contains(c[1].data, "10.0.0.2:30000") {
			t.Fatalf("applied config lacks the new server:\n%s", c[1].data)
		}
	})
}

func TestWatchPollsFastWhileSettlingSlowWhenSteady(t *testing.T) {
	for _, settling := range []bool{false, true} {
		t.Run(fmt.Sprintf("settling=%v", settling), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src := &fakeSource{model: modelN(1, settling)}
				app := &fakeApplier{}
				stop := startWatch(t, src, app, nil)
				defer stop()
				time.Sleep(10 * time.Millisecond)
				changed := time.Now()
				src.set(modelN(2, settling), nil) // no event: only polling can see it (a task came up)
				for len(app.calls()) < 2 {
					time.Sleep(10 * time.Millisecond)
				}
				got := app.calls()[1].at.Sub(changed)
				poll := testTiming.SlowPoll
				if settling {
					poll = testTiming.FastPoll
				}
				if got > poll+testTiming.DebounceMin {
					t.Fatalf("change seen after %v, want within poll %v + debounce %v", got, poll, testTiming.DebounceMin)
				}
				if !settling && got < testTiming.SlowPoll-testTiming.FastPoll {
					t.Fatalf("steady swarm polled faster than expected: change seen after %v", got)
				}
			})
		})
	}
}

func TestWatchDebouncesBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{model: modelN(1, true)}
		app := &fakeApplier{}
		stop := startWatch(t, src, app, nil)
		defer stop()
		// A rolling update: the model changes every 100 ms for 5 s, each with an event.
		for i := 0; i < 50; i++ {
			time.Sleep(100 * time.Millisecond)
			src.set(modelN(2+i%6, true), nil)
			src.event()
		}
		src.set(modelN(6, false), nil)
		time.Sleep(5 * time.Second)
		c := app.calls()
		for i := 2; i < len(c); i++ {
			if gap := c[i].at.Sub(c[i-1].at); gap < testTiming.DebounceMin {
				t.Fatalf("applies %d and %d only %v apart, want at least the debounce window %v", i-1, i, gap, testTiming.DebounceMin)
			}
		}
		// start + at most one per DebounceMax during the 5 s burst + the final state.
		if max := 1 + 3 + 1; len(c) > max {
			t.Fatalf("%d applies during a 5 s burst, want at most %d", len(c), max)
		}
		if len(c) < 3 {
			t.Fatalf("the max window must force applies during a long burst, got %d", len(c))
		}
		if last := c[len(c)-1].data; !strings.Contains(last, "10.0.0.6:30000") || strings.Contains(last, "10.0.0.7") {
			t.Fatalf("final config is not the final state:\n%s", last)
		}
	})
}

func TestWatchKeepsLastGoodConfigWhileEngineDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{model: modelN(2, false)}
		app := &fakeApplier{}
		met := NewMetrics()
		stop := startWatch(t, src, app, met)
		defer stop()
		if !met.Healthy() {
			t.Fatal("healthy after the first apply")
		}
		src.set(discovery.Model{}, errors.New("connection refused"))
		src.breakStream()
		r0, _ := src.counts()
		time.Sleep(60 * time.Second)
		r1, s1 := src.counts()
		if len(app.calls()) != 1 {
			t.Fatalf("nothing may be applied while the engine is down, got %d applies", len(app.calls()))
		}
		// back-off 0.5, 1, 2, 4, 8, 16, 30 s: about 8 reads in a minute, not 240.
		if n := r1 - r0; n > 10 || n < 5 {
			t.Fatalf("%d reads in 60 s of outage, want exponential back-off", n)
		}
		if met.Healthy() {
			t.Fatal("unhealthy while the engine is unreachable")
		}

		src.set(modelN(3, false), nil)
		time.Sleep(testTiming.BackoffMax + testTiming.DebounceMin)
		synctest.Wait()
		c := app.calls()
		if len(c) != 2 || !strings.Contains(c[1].data, "10.0.0.3:30000") {
			t.Fatalf("want the new state applied once the engine is back, got %d applies", len(c))
		}
		if _, s2 := src.counts(); s2 <= s1 {
			t.Fatal("the event stream must be re-subscribed once the engine is back")
		}
		if s1 > 10 {
			t.Fatalf("%d subscriptions during the outage, want back-off", s1)
		}
		if !met.Healthy() {
			t.Fatal("healthy again")
		}
	})
}

func TestWatchDoesNotRetryAConfigThatFailedItsTest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{model: modelN(1, false)}
		app := &fakeApplier{failOn: "10.0.0.2:"}
		met := NewMetrics()
		stop := startWatch(t, src, app, met)
		defer stop()
		src.set(modelN(2, false), nil)
		src.event()
		time.Sleep(30 * time.Second) // many polls
		c := app.calls()
		if len(c) != 2 || met.TestFailures() != 1 {
			t.Fatalf("the failing config must be tried once, got %d applies, %d test failures", len(c), met.TestFailures())
		}
		src.set(modelN(1, false), nil) // back to the applied state: nothing to do
		src.event()
		time.Sleep(time.Second)
		if n := len(app.calls()); n != 2 {
			t.Fatalf("state equal to the applied config must not apply, got %d applies", n)
		}
	})
}

func TestWatchResubscribesWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{model: modelN(1, false)}
		app := &fakeApplier{}
		stop := startWatch(t, src, app, nil)
		defer stop()
		src.breakStream()
		synctest.Wait()
		broke := time.Now()
		time.Sleep(testTiming.BackoffMin)
		synctest.Wait()
		src.mu.Lock()
		subs := append([]time.Time(nil), src.subs...)
		src.mu.Unlock()
		if len(subs) != 2 || subs[1].Sub(broke) != testTiming.BackoffMin {
			t.Fatalf("want a second subscription %v after the break, got %v", testTiming.BackoffMin, subs)
		}
	})
}

func TestWatchResyncReappliesPeriodically(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{model: modelN(1, false)}
		app := &fakeApplier{}
		stop := startWatch(t, src, app, nil)
		defer stop()
		app.mu.Lock()
		app.current = []byte("edited by hand") // someone changed the file
		app.mu.Unlock()
		time.Sleep(testTiming.Resync)
		synctest.Wait()
		c := app.calls()
		if len(c) != 2 || c[1].data != c[0].data {
			t.Fatalf("want the resync to re-apply the same config, got %d applies", len(c))
		}
	})
}

func TestMetricsText(t *testing.T) {
	m := NewMetrics()
	m.rendered(nil)
	m.rendered(errors.New("x"))
	m.applied(Result{Changed: true, Tested: true, Reloaded: true}, time.Unix(1700000000, 0))
	m.readOK(time.Unix(1700000000, 0), nil)
	m.setModel(modelN(2, false))
	var b strings.Builder
	m.WriteText(&b)
	for _, want := range []string{
		"deckhand_nginx_renders_total 2\n",
		"deckhand_nginx_render_errors_total 1\n",
		"deckhand_nginx_reloads_total 1\n",
		"deckhand_nginx_last_success_timestamp_seconds 1.7e+09\n",
		"deckhand_engine_reachable 1\n",
		`deckhand_nginx_upstream_servers{service="app_web",upstream="app_web"} 2` + "\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

func TestWatchRemovedServiceAnswers503ForAWhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{model: modelN(2, false)}
		app := &fakeApplier{}
		stop := startWatch(t, src, app, nil)
		defer stop()
		src.set(discovery.Model{}, nil)
		src.event()
		time.Sleep(time.Second)
		c := app.calls()
		if len(c) != 2 || !strings.Contains(c[1].data, "return 503;") || strings.Contains(c[1].data, "upstream app_web") {
			t.Fatalf("a removed service's route must answer 503 with no upstream:\n%s", c[len(c)-1].data)
		}
		time.Sleep(testTiming.KeepRemoved + testTiming.SlowPoll + testTiming.DebounceMin)
		c = app.calls()
		if len(c) != 3 || strings.Contains(c[2].data, "503") {
			t.Fatalf("after KeepRemoved the route must go, got %d applies:\n%s", len(c), c[len(c)-1].data)
		}

		// A service that comes back takes its routes over again.
		src.set(modelN(1, false), nil)
		src.event()
		time.Sleep(time.Second)
		if c := app.calls(); !strings.Contains(c[len(c)-1].data, "server 10.0.0.1:30000;") {
			t.Fatalf("service back: %s", c[len(c)-1].data)
		}
	})
}

func TestWatchPollsFastWhenSettlingWithoutVisibleChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &fakeSource{model: modelN(1, false)}
		app := &fakeApplier{}
		stop := startWatch(t, src, app, nil)
		defer stop()
		time.Sleep(10 * time.Millisecond)
		// Scaled up: the service is converging but its new task is not running
		// yet, so the config does not change; the event says so.
		src.set(modelN(1, true), nil)
		src.event()
		time.Sleep(time.Second)
		r0, _ := src.counts()
		src.set(modelN(2, true), nil) // the task reaches running; no event for tasks
		changed := time.Now()
		for len(app.calls()) < 2 {
			time.Sleep(10 * time.Millisecond)
		}
		if got := app.calls()[1].at.Sub(changed); got > testTiming.FastPoll+testTiming.DebounceMin {
			t.Fatalf("new task seen after %v, want within fast poll %v + debounce %v", got, testTiming.FastPoll, testTiming.DebounceMin)
		}
		if r1, _ := src.counts(); r1-r0 < 1 {
			t.Fatal("no poll happened")
		}
	})
}

func TestChangeSummary(t *testing.T) {
	got := changeSummary([]string{"b 10.0.0.3:1", "a 10.0.0.2:1"}, []string{"a 10.0.0.1:1"})
	if want := "a +10.0.0.2:1 -10.0.0.1:1; b +10.0.0.3:1"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if got := changeSummary(nil, nil); got != "" {
		t.Fatalf("no change: %q", got)
	}
}

func TestMetricsHandler(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"healthy":false`) {
		t.Fatalf("before any apply: %d %s", code, body)
	}
	m.readOK(time.Unix(1700000000, 0), nil)
	m.applied(Result{Changed: true, Reloaded: true}, time.Unix(1700000000, 0))
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, `"last_success":"2023-11-14T22:13:20Z"`) {
		t.Fatalf("after an apply: %d %s", code, body)
	}
	m.readFailed(errors.New("connection refused"), true)
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("engine unreachable: %d", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "deckhand_engine_reachable 0\n") {
		t.Fatalf("metrics: %d %s", code, body)
	}
}
