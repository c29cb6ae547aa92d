package nginx

import (
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"
)

// TestWatchKeepsStatus follows what the status page shows through a
// watch: the routing in place, the servers each change added and
// removed, the last test and reload, skipped services and the engine.
func TestWatchKeepsStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		src := &fakeSource{model: modelN(2, false), warnings: []error{errors.New("service b: bad label"), errors.New("service a: bad label")}}
		app := &fakeApplier{failOn: "10.0.0.4:"}
		met := NewMetrics()
		stop := startWatch(t, src, app, met)
		defer stop()

		s := met.Status()
		if !reflect.DeepEqual(s.Model, modelN(2, false)) || !s.Applied.Equal(start) || !s.EngineReachable || !s.LastRead.Equal(start) {
			t.Fatalf("after the first apply: %+v", s)
		}
		if want := []string{"service a: bad label", "service b: bad label"}; !reflect.DeepEqual(s.Skipped, want) {
			t.Fatalf("skipped %q, want %q (sorted)", s.Skipped, want)
		}
		if want := (Outcome{At: start, OK: true}); s.Test != want || s.Reload != want || s.Write != want {
			t.Fatalf("test %+v reload %+v write %+v, want all %+v", s.Test, s.Reload, s.Write, want)
		}
		if len(s.Changes) != 1 || !reflect.DeepEqual(s.Changes[0].Added, []string{"app_web 10.0.0.1:30000", "app_web 10.0.0.2:30000"}) ||
			s.Changes[0].Summary != "app_web +10.0.0.1:30000 +10.0.0.2:30000" || !s.Changes[0].Reloaded || s.Changes[0].Upstreams != 1 {
			t.Fatalf("first change: %+v", s.Changes)
		}

		// Scale 2 → 3: the newest change comes first and says what it added.
		src.mu.Lock()
		src.warnings = nil
		src.mu.Unlock()
		src.set(modelN(3, false), nil)
		src.event()
		time.Sleep(time.Second)
		s = met.Status()
		if len(s.Changes) != 2 || s.Changes[0].Summary != "app_web +10.0.0.3:30000" || len(s.Skipped) != 0 {
			t.Fatalf("after scaling up: changes %+v skipped %q", s.Changes, s.Skipped)
		}

		// The same addresses served by a new task: nginx's config stays,
		// the status names the new task.
		m := modelN(3, false)
		m.Services[0].Upstreams[0].Servers[0].Task = "app_web.7"
		src.set(m, nil)
		src.event()
		time.Sleep(time.Second)
		if s = met.Status(); len(app.calls()) != 2 || s.Model.Services[0].Upstreams[0].Servers[0].Task != "app_web.7" || len(s.Changes) != 2 {
			t.Fatalf("a task replaced in place: %d applies, status %+v", len(app.calls()), s)
		}

		// A config that fails its test: the test's outcome, nothing applied.
		src.set(modelN(4, false), nil)
		src.event()
		time.Sleep(time.Second)
		s = met.Status()
		if s.Test.OK || s.Test.Err == "" || !s.Reload.OK || len(s.Model.Services[0].Upstreams[0].Servers) != 3 {
			t.Fatalf("after a failed test: test %+v reload %+v servers %v", s.Test, s.Reload, s.Model.Services[0].Upstreams[0].Servers)
		}

		// The engine goes away: the routing in place stays, the engine is down.
		src.set(modelN(3, false), errors.New("connection refused"))
		src.event()
		time.Sleep(time.Second)
		s = met.Status()
		if s.EngineReachable || s.EngineError != "connection refused" || len(s.Model.Services) != 1 {
			t.Fatalf("engine down: %+v", s)
		}
	})
}

func TestStatusKeepsTheLastChanges(t *testing.T) {
	m := NewMetrics()
	for i := range MaxChanges + 3 {
		m.changed(Change{Upstreams: i})
	}
	s := m.Status()
	if len(s.Changes) != MaxChanges || s.Changes[0].Upstreams != MaxChanges+2 || s.Changes[MaxChanges-1].Upstreams != 3 {
		t.Fatalf("want the last %d changes, newest first: %+v", MaxChanges, s.Changes)
	}
	s.Changes[0].Upstreams = -1
	if m.Status().Changes[0].Upstreams == -1 {
		t.Fatal("Status must return a copy")
	}
}
