package record

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// fakeConfigs is an in-memory swarm config store: names unique, data
// immutable, labels updatable at the current version.
type fakeConfigs struct {
	mu      sync.Mutex
	next    int
	configs map[string]swarm.Config
	// onCreate runs before each create (to race another writer).
	onCreate func(name string)
}

func newFake() *fakeConfigs { return &fakeConfigs{configs: map[string]swarm.Config{}} }

func (f *fakeConfigs) ConfigList(_ context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r client.ConfigListResult
	for _, id := range slices.Sorted(maps.Keys(f.configs)) {
		c := f.configs[id]
		match := true
		for l := range o.Filters["label"] {
			k, v, _ := strings.Cut(l, "=")
			if c.Spec.Labels[k] != v {
				match = false
			}
		}
		if match {
			r.Items = append(r.Items, c)
		}
	}
	return r, nil
}

func (f *fakeConfigs) ConfigInspect(_ context.Context, id string, _ client.ConfigInspectOptions) (client.ConfigInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.configs[id]
	if !ok {
		return client.ConfigInspectResult{}, errdefs.ErrNotFound.WithMessage("config " + id + " not found")
	}
	return client.ConfigInspectResult{Config: c}, nil
}

func (f *fakeConfigs) ConfigCreate(_ context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error) {
	if f.onCreate != nil {
		f.onCreate(o.Spec.Name)
	}
	return f.create(o.Spec)
}

func (f *fakeConfigs) create(spec swarm.ConfigSpec) (client.ConfigCreateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.configs {
		if c.Spec.Name == spec.Name {
			return client.ConfigCreateResult{}, errdefs.ErrConflict.WithMessage("config " + spec.Name + " already exists")
		}
	}
	f.next++
	id := fmt.Sprintf("cfg%03d", f.next)
	f.configs[id] = swarm.Config{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: uint64(f.next)}}, Spec: spec}
	return client.ConfigCreateResult{ID: id}, nil
}

func (f *fakeConfigs) ConfigUpdate(_ context.Context, id string, o client.ConfigUpdateOptions) (client.ConfigUpdateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.configs[id]
	switch {
	case !ok:
		return client.ConfigUpdateResult{}, errdefs.ErrNotFound.WithMessage("config " + id + " not found")
	case o.Version != c.Version:
		return client.ConfigUpdateResult{}, errors.New("update out of sequence")
	case string(o.Spec.Data) != string(c.Spec.Data) || o.Spec.Name != c.Spec.Name:
		return client.ConfigUpdateResult{}, errdefs.ErrInvalidArgument.WithMessage("only updates to Labels are allowed")
	}
	f.next++
	c.Version.Index = uint64(f.next)
	c.Spec.Labels = o.Spec.Labels
	f.configs[id] = c
	return client.ConfigUpdateResult{}, nil
}

func (f *fakeConfigs) ConfigRemove(_ context.Context, id string, _ client.ConfigRemoveOptions) (client.ConfigRemoveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.configs[id]; !ok {
		return client.ConfigRemoveResult{}, errdefs.ErrNotFound.WithMessage("config " + id + " not found")
	}
	delete(f.configs, id)
	return client.ConfigRemoveResult{}, nil
}

type payload struct {
	Text string `json:"text"`
}

func mustEncode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seqs(recs []Record) []int {
	var out []int
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}

func TestAppendNumbersRecordsAndListReadsThemBack(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	s := NewStore(f)
	for i := range 3 {
		r, err := s.Append(ctx, "app", KindRevision, "in progress", mustEncode(t, payload{fmt.Sprint("run ", i+1)}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != i+1 || r.Name != fmt.Sprintf("app.rev.%d", i+1) {
			t.Errorf("record %d = %s (seq %d)", i+1, r.Name, r.Seq)
		}
	}
	// Another stack's records and other configs are not listed.
	if _, err := s.Append(ctx, "other", KindRevision, "x", mustEncode(t, payload{}), nil); err != nil {
		t.Fatal(err)
	}
	_, _ = f.create(swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app_conf_1", Labels: map[string]string{LabelStack: "app"}}})
	recs, err := List(ctx, f, "app", KindRevision)
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(recs); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("listed %v, want 1 2 3", got)
	}
	var p payload
	if err := recs[1].Decode(&p); err != nil || p.Text != "run 2" {
		t.Errorf("decoded %+v, %v", p, err)
	}
	if recs[1].State != "in progress" {
		t.Errorf("state = %q", recs[1].State)
	}
}

// Two runs that pick the same number: the second takes the next one.
func TestAppendTakesTheNextNumberWhenRaced(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	s := NewStore(f)
	raced := false
	f.onCreate = func(name string) {
		if !raced {
			raced = true
			_, _ = f.create(swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: map[string]string{LabelStack: "app", LabelKind: "rev", LabelSeq: "1"}}})
		}
	}
	r, err := s.Append(ctx, "app", KindRevision, "in progress", mustEncode(t, payload{"mine"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 2 {
		t.Errorf("seq = %d, want 2 after losing 1 to another run", r.Seq)
	}
}

// A config of the same name that is not a record does not loop forever.
func TestAppendStepsOverForeignConfig(t *testing.T) {
	f := newFake()
	_, _ = f.create(swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "app.rev.1"}})
	r, err := NewStore(f).Append(context.Background(), "app", KindRevision, "s", mustEncode(t, payload{}), nil)
	if err != nil || r.Seq != 2 {
		t.Fatalf("seq %d, err %v; want 2", r.Seq, err)
	}
}

func TestSetStateKeepsThePayload(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	s := NewStore(f)
	r, err := s.Append(ctx, "app", KindRevision, "in progress", mustEncode(t, payload{"p"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, r, "converged"); err != nil {
		t.Fatal(err)
	}
	recs, _ := List(ctx, f, "app", KindRevision)
	var p payload
	if len(recs) != 1 || recs[0].State != "converged" || recs[0].Decode(&p) != nil || p.Text != "p" {
		t.Fatalf("after SetState: %+v %+v", recs, p)
	}
}

func TestTrimKeepsTheNewest(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	s := NewStore(f)
	for range 5 {
		if _, err := s.Append(ctx, "app", KindRevision, "s", mustEncode(t, payload{}), nil); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := s.Trim(ctx, "app", KindRevision, 2)
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := List(ctx, f, "app", KindRevision)
	if !slices.Equal(seqs(removed), []int{1, 2, 3}) || !slices.Equal(seqs(recs), []int{4, 5}) {
		t.Errorf("removed %v, left %v", seqs(removed), seqs(recs))
	}
	// A later record continues the numbering.
	r, _ := s.Append(ctx, "app", KindRevision, "s", mustEncode(t, payload{}), nil)
	if r.Seq != 6 {
		t.Errorf("next seq = %d, want 6", r.Seq)
	}
}

func TestEncodeRefusesWhatSwarmWouldNot(t *testing.T) {
	// Random-looking text does not compress.
	var b strings.Builder
	x := uint64(1)
	for b.Len() < MaxData*2 {
		x = x*6364136223846793005 + 1442695040888963407
		fmt.Fprintf(&b, "%016x", x)
	}
	if _, err := Encode(payload{b.String()}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	// Repetitive specs compress well below the limit.
	data, err := Encode(payload{strings.Repeat("service spec ", 100000)})
	if err != nil || len(data) > MaxData/10 {
		t.Errorf("%d bytes, err %v", len(data), err)
	}
}

func TestDecodeNamesTheRecordAndTheFix(t *testing.T) {
	err := Record{Name: "app.rev.3", Data: []byte("not gzip")}.Decode(&payload{})
	if err == nil || !strings.Contains(err.Error(), "app.rev.3") || !strings.Contains(err.Error(), "docker config rm app.rev.3") {
		t.Errorf("err = %v", err)
	}
}

func TestNameFitsSwarm(t *testing.T) {
	stack := strings.Repeat("s", 50) // the longest stack name deckhand accepts
	if n := Name(stack, KindRevision, 999999999); len(n) > 64 {
		t.Errorf("%s is %d characters, swarm allows 64", n, len(n))
	}
	if n := Name("app", "lock", 0); n != "app.lock" {
		t.Errorf("Name = %q", n)
	}
}
