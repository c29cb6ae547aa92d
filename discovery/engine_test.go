package discovery

import (
	"context"
	"errors"
	"testing"

	"github.com/moby/moby/api/types/events"
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
