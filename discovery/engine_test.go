package discovery

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// fakeEventer hands out the channels the test drives and records the filters.
type fakeEventer struct {
	msgs    chan events.Message
	errs    chan error
	filters client.Filters
}

func (f *fakeEventer) Events(_ context.Context, o client.EventsListOptions) client.EventsResult {
	f.filters = o.Filters
	return client.EventsResult{Messages: f.msgs, Err: f.errs}
}

func TestSubscribe(t *testing.T) {
	f := &fakeEventer{msgs: make(chan events.Message), errs: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig, errc := Subscribe(ctx, f)
	if !f.filters["type"]["service"] || !f.filters["type"]["node"] || len(f.filters["type"]) != 2 {
		t.Fatalf("want service and node events only, filters %v", f.filters)
	}
	f.msgs <- events.Message{Type: events.ServiceEventType}
	f.msgs <- events.Message{Type: events.NodeEventType} // coalesced with the first while unread
	<-sig
	f.errs <- errors.New("unexpected EOF")
	if err := <-errc; err == nil || err.Error() != "engine event stream: unexpected EOF" {
		t.Fatalf("want the stream error, got %v", err)
	}
	for range sig { // at most one coalesced signal may still be pending; then it closes
	}

	f2 := &fakeEventer{msgs: make(chan events.Message), errs: make(chan error, 1)}
	ctx2, cancel2 := context.WithCancel(context.Background())
	_, errc2 := Subscribe(ctx2, f2)
	cancel2()
	if err := <-errc2; err != nil {
		t.Fatalf("a cancelled subscription ends without error, got %v", err)
	}
}

// A running task that swarm lists without its ports (as after a manager
// election) keeps the ports it reported before, for as long as it is listed;
// a task seen for the first time without ports has none to keep.
func TestEngineSourceKeepsTheLastReportedPorts(t *testing.T) {
	svc := service("s1", "shop_web", stack("shop"), hostPort(8080, 0), label(LabelHost, "shop.example.com"))
	f := &fakeLister{nodes: threeNodes(), services: []swarm.Service{svc}}
	src := &EngineSource{Engine: struct {
		Lister
		Eventer
	}{f, nil}, Options: Options{}}
	servers := func() []string {
		t.Helper()
		m, _, err := src.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range m.Services {
			for _, u := range s.Upstreams {
				for _, sv := range u.Servers {
					out = append(out, sv.String())
				}
			}
		}
		return out
	}
	f.tasks = []swarm.Task{task("t1", "s1", "n1", swarm.TaskStateRunning, taskHostPort(8080, 30001))}
	if got := servers(); !slices.Equal(got, []string{"10.0.0.1:30001"}) {
		t.Fatalf("servers %v, want the task's port", got)
	}
	f.tasks = []swarm.Task{
		task("t1", "s1", "n1", swarm.TaskStateRunning),  // same task, ports gone
		task("t2", "s1", "n2", swarm.TaskStateRunning),  // never reported any
		task("t3", "s1", "n3", swarm.TaskStateStarting), // not running
	}
	if got := servers(); !slices.Equal(got, []string{"10.0.0.1:30001"}) {
		t.Fatalf("servers after the ports went missing: %v, want t1 still at 10.0.0.1:30001", got)
	}
	f.tasks = nil // t1 is gone: forgotten
	servers()
	f.tasks = []swarm.Task{task("t1", "s1", "n1", swarm.TaskStateRunning)}
	if got := servers(); len(got) != 0 {
		t.Fatalf("servers %v for a task that was forgotten, want none", got)
	}
}
