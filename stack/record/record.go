package record

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Labels of a record. The stack is docker's own stack label, so records go
// with the stack when docker stack rm removes it.
const (
	LabelKind  = "deckhand.record"       // the record's kind
	LabelSeq   = "deckhand.record.seq"   // its number among the stack's records of that kind
	LabelState = "deckhand.record.state" // its state, the one part that can change
	LabelStack = convert.LabelNamespace  // the stack it belongs to
)

// MaxData is the most compressed bytes a record holds: well under the
// 500 KB swarm allows a config (engine 20.10), leaving room for its labels.
const MaxData = 256 << 10

// Kind is what a record is for; it is part of the record's name, so it is short.
type Kind string

// Kinds of records.
const (
	KindRevision Kind = "rev"  // one deploy of the stack (stack/revision)
	KindLock     Kind = "lock" // the run that holds the stack's lock (one at a time)
)

// ErrTooLarge is the error of a payload that compresses to more than MaxData.
var ErrTooLarge = errors.New("record is too large")

// ErrTaken is the error of a record name that is already in use.
var ErrTaken = errors.New("record name is taken")

// ReadAPI is the part of the engine API that reads records.
type ReadAPI interface {
	ConfigList(ctx context.Context, o client.ConfigListOptions) (client.ConfigListResult, error)
}

// API is the part of the engine API that reads and writes records; *client.Client has it.
type API interface {
	ReadAPI
	ConfigInspect(ctx context.Context, id string, o client.ConfigInspectOptions) (client.ConfigInspectResult, error)
	ConfigCreate(ctx context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error)
	ConfigUpdate(ctx context.Context, id string, o client.ConfigUpdateOptions) (client.ConfigUpdateResult, error)
	ConfigRemove(ctx context.Context, id string, o client.ConfigRemoveOptions) (client.ConfigRemoveResult, error)
}

// Record is one record as the swarm stores it.
type Record struct {
	ID      string
	Name    string // STACK.KIND or STACK.KIND.SEQ
	Stack   string
	Kind    Kind
	Seq     int    // 0 for a record that is one of its kind (a lock)
	State   string // the mutable state label
	Created time.Time
	Updated time.Time
	Data    []byte // the compressed payload; Decode reads it
}

// Name is the config name of a record: STACK.KIND, or STACK.KIND.SEQ when
// seq is positive. With a stack name of at most 50 characters it stays within
// swarm's 64.
func Name(stack string, kind Kind, seq int) string {
	if seq <= 0 {
		return stack + "." + string(kind)
	}
	return stack + "." + string(kind) + "." + strconv.Itoa(seq)
}

// Encode compresses v as gzip JSON; more than MaxData bytes is ErrTooLarge.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress record: %w", err)
	}
	if buf.Len() > MaxData {
		return nil, fmt.Errorf("%w: %d bytes compressed, at most %d", ErrTooLarge, buf.Len(), MaxData)
	}
	return buf.Bytes(), nil
}

// Decode reads the record's payload into v.
func (r Record) Decode(v any) error {
	zr, err := gzip.NewReader(bytes.NewReader(r.Data))
	if err != nil {
		return fmt.Errorf("record %s: %w; it was not written by deckhand: remove it with docker config rm %s", r.Name, err, r.Name)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err == nil {
		err = json.Unmarshal(raw, v)
	}
	if err != nil {
		return fmt.Errorf("record %s: %w; it is damaged: remove it with docker config rm %s", r.Name, err, r.Name)
	}
	return nil
}

// fromConfig reads a record from its config; ok is false for configs that
// are not records of kind.
func fromConfig(c swarm.Config, kind Kind) (Record, bool) {
	l := c.Spec.Labels
	if Kind(l[LabelKind]) != kind || l[LabelStack] == "" {
		return Record{}, false
	}
	seq, err := strconv.Atoi(l[LabelSeq])
	if err != nil && l[LabelSeq] != "" {
		return Record{}, false
	}
	return Record{ID: c.ID, Name: c.Spec.Name, Stack: l[LabelStack], Kind: kind, Seq: seq, State: l[LabelState],
		Created: c.CreatedAt, Updated: c.UpdatedAt, Data: c.Spec.Data}, true
}

// List returns the stack's records of kind, by number.
func List(ctx context.Context, api ReadAPI, stack string, kind Kind) ([]Record, error) {
	f := make(client.Filters).Add("label", LabelStack+"="+stack, LabelKind+"="+string(kind))
	res, err := api.ConfigList(ctx, client.ConfigListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("read the %s records of stack %q: %w; check that the engine is a swarm manager", kind, stack, err)
	}
	var out []Record
	for _, c := range res.Items {
		if r, ok := fromConfig(c, kind); ok && r.Stack == stack {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.Name, b.Name)) })
	return out, nil
}

// Store writes records through the engine.
type Store struct{ api API }

// NewStore returns a store over api.
func NewStore(api API) *Store { return &Store{api: api} }

// Create stores data (from Encode) as record seq of the stack's kind, in
// state. A name already in use is ErrTaken: someone else created it first.
func (s *Store) Create(ctx context.Context, stack string, kind Kind, seq int, state string, data []byte) (Record, error) {
	name := Name(stack, kind, seq)
	labels := map[string]string{LabelStack: stack, LabelKind: string(kind), LabelState: state}
	if seq > 0 {
		labels[LabelSeq] = strconv.Itoa(seq)
	}
	spec := swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data}
	res, err := s.api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: spec})
	if errdefs.IsConflict(err) || errdefs.IsAlreadyExists(err) {
		return Record{}, fmt.Errorf("create record %s: %w", name, ErrTaken)
	}
	if err != nil {
		return Record{}, fmt.Errorf("create record %s: %w", name, err)
	}
	return Record{ID: res.ID, Name: name, Stack: stack, Kind: kind, Seq: seq, State: state, Data: data}, nil
}

// Append creates the stack's next record of kind: one past the highest
// number in known (records listed before; nil lists them), and past the
// highest in the swarm when another run took that number meanwhile.
func (s *Store) Append(ctx context.Context, stack string, kind Kind, state string, data []byte, known []Record) (Record, error) {
	const tries = 5
	var err error
	if known == nil {
		if known, err = List(ctx, s.api, stack, kind); err != nil {
			return Record{}, err
		}
	}
	for range tries {
		next := 1
		if len(known) > 0 {
			next = known[len(known)-1].Seq + 1
		}
		var r Record
		if r, err = s.Create(ctx, stack, kind, next, state, data); !errors.Is(err, ErrTaken) {
			return r, err
		}
		if known, err = List(ctx, s.api, stack, kind); err != nil {
			return Record{}, err
		}
		if len(known) == 0 || known[len(known)-1].Seq < next {
			// The name is taken by a config that is not a record of ours.
			known = append(known, Record{Seq: next})
		}
	}
	return Record{}, fmt.Errorf("create the next %s record of stack %q: %w %d times in a row; list them with docker config ls --filter label=%s=%s", kind, stack, ErrTaken, tries, LabelStack, stack)
}

// SetState changes the record's state label; its payload stays.
func (s *Store) SetState(ctx context.Context, r Record, state string) error {
	cur, err := s.api.ConfigInspect(ctx, r.ID, client.ConfigInspectOptions{})
	if err != nil {
		return fmt.Errorf("set the state of record %s: %w", r.Name, err)
	}
	spec := cur.Config.Spec
	spec.Labels = maps.Clone(spec.Labels)
	spec.Labels[LabelState] = state
	if _, err := s.api.ConfigUpdate(ctx, r.ID, client.ConfigUpdateOptions{Version: cur.Config.Version, Spec: spec}); err != nil {
		return fmt.Errorf("set the state of record %s: %w", r.Name, err)
	}
	return nil
}

// Remove deletes a record.
func (s *Store) Remove(ctx context.Context, r Record) error {
	if _, err := s.api.ConfigRemove(ctx, r.ID, client.ConfigRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove record %s: %w; remove it with docker config rm %s", r.Name, err, r.Name)
	}
	return nil
}

// Trim removes all but the newest keep records of the stack's kind and
// returns the ones it removed.
func (s *Store) Trim(ctx context.Context, stack string, kind Kind, keep int) ([]Record, error) {
	recs, err := List(ctx, s.api, stack, kind)
	if err != nil || len(recs) <= keep {
		return nil, err
	}
	old := recs[:len(recs)-max(keep, 0)]
	var errs []error
	for _, r := range old {
		errs = append(errs, s.Remove(ctx, r))
	}
	return old, errors.Join(errs...)
}
