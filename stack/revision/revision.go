package revision

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
)

// Schema is the version of the payload this deckhand writes and reads.
const Schema = 1

// Outcome is how the run that recorded a revision ended.
type Outcome string

// Outcomes of a recorded run.
const (
	OutcomeInProgress   Outcome = "in progress"   // the run is writing or waiting, or died doing so
	OutcomeConverged    Outcome = "converged"     // every changed service converged
	OutcomeApplied      Outcome = "applied"       // written with --detach, not waited for
	OutcomeFailed       Outcome = "failed"        // an engine write failed; the stack may be partly applied
	OutcomeNotConverged Outcome = "not converged" // written, but services rolled back, paused or timed out
	OutcomeRolledBack   Outcome = "rolled back"   // --atomic undid the run: the stack is back where it was
	OutcomeInterrupted  Outcome = "interrupted"   // the run died mid-way (killed, lost); a later run found it in progress
)

// Action is what made a revision.
type Action string

// Actions that record a revision.
const (
	ActionDeploy   Action = "deploy"   // deckhand deploy
	ActionRollback Action = "rollback" // deckhand rollback --to
)

// Revision is one recorded deploy of a stack: the record's payload, plus
// the number and outcome its record carries.
type Revision struct {
	Schema  int     `json:"schema"`
	Number  int     `json:"-"` // the record's number
	Outcome Outcome `json:"-"` // the record's state

	Stack  string     `json:"stack"`
	Time   time.Time  `json:"time"`
	Who    record.Who `json:"who"`
	Action Action     `json:"action"`
	// From is the revision a rollback restored ("3"), or where a deploy
	// took its images (--images-from: "app@7", "context staging: app").
	From string `json:"from,omitempty"`
	// FilesDigest is the sha256 of the compose files as read.
	FilesDigest string `json:"files_digest,omitempty"`
	// Adopted is set on the first revision of a stack that ran before
	// deckhand recorded it (docker stack deploy, or an older deckhand).
	Adopted bool `json:"adopted,omitempty"`

	// Services are the stack's service specs after the run, by swarm name:
	// images pinned to digests, networks by name, config and secret
	// references by name (IDs cleared). Secret values are never in a spec.
	Services map[string]swarm.ServiceSpec           `json:"services,omitempty"`
	Networks map[string]client.NetworkCreateOptions `json:"networks,omitempty"` // the stack's own networks
	Configs  []string                               `json:"configs,omitempty"`  // config versions the services use
	Secrets  []string                               `json:"secrets,omitempty"`  // secret versions the services use
	// Rendered is the stack's compose document with images pinned, when
	// the run loaded one (not for rollbacks).
	Rendered string `json:"rendered,omitempty"`
	// Partial is set when the specs did not fit in a record: such a
	// revision is listed, but cannot be rolled back to or promoted from.
	Partial bool `json:"partial,omitempty"`
}

// Input is what a run knows when it records a revision.
type Input struct {
	Stack        string
	Time         time.Time
	Who          record.Who
	Action       Action
	From         string
	FilesDigest  string
	First        bool       // no revision of the stack is recorded yet
	Plan         *plan.Plan // the changes the run writes
	Live         *plan.Live // the stack before them
	NetworkNames map[string]string
	Networks     map[string]client.NetworkCreateOptions
	Rendered     []byte
}

// New builds the revision a run records: the stack's services after the
// plan is applied. It is pure.
func New(in Input) *Revision {
	r := &Revision{Schema: Schema, Stack: in.Stack, Time: in.Time.UTC(), Who: in.Who, Action: in.Action, From: in.From,
		FilesDigest: in.FilesDigest, Networks: in.Networks, Rendered: string(in.Rendered),
		Adopted: in.First && len(in.Live.Services) > 0}
	r.Services = After(in.Plan, in.Live, in.NetworkNames)
	r.Configs, r.Secrets = references(r.Services)
	return r
}

// After is the stack's services once the plan is applied: the live ones,
// updated, created and removed as the plan says, cleaned (see Clean).
func After(p *plan.Plan, live *plan.Live, netNames map[string]string) map[string]swarm.ServiceSpec {
	out := map[string]swarm.ServiceSpec{}
	for _, s := range live.Services {
		out[s.Spec.Name] = Clean(s.Spec, netNames)
	}
	for _, c := range p.Changes {
		if c.Kind != plan.KindService {
			continue
		}
		switch c.Action {
		case plan.ActionCreate, plan.ActionUpdate:
			out[c.Name] = Clean(*c.Service, netNames)
		case plan.ActionRemove:
			delete(out, c.Name)
		}
	}
	return out
}

// Clean returns a copy of spec as a revision keeps it: networks named, not
// IDed, and config and secret references without IDs (they are looked up
// by name when the revision is restored).
func Clean(spec swarm.ServiceSpec, netNames map[string]string) swarm.ServiceSpec {
	spec = plan.NamedNetworks(spec, netNames)
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
		c := *cs
		c.Configs = make([]*swarm.ConfigReference, len(cs.Configs))
		for i, r := range cs.Configs {
			rc := *r
			rc.ConfigID = ""
			c.Configs[i] = &rc
		}
		c.Secrets = make([]*swarm.SecretReference, len(cs.Secrets))
		for i, r := range cs.Secrets {
			rc := *r
			rc.SecretID = ""
			c.Secrets[i] = &rc
		}
		if len(c.Configs) == 0 {
			c.Configs = nil
		}
		if len(c.Secrets) == 0 {
			c.Secrets = nil
		}
		spec.TaskTemplate.ContainerSpec = &c
	}
	return spec
}

// references lists the config and secret versions the services use, sorted.
func references(services map[string]swarm.ServiceSpec) (configs, secrets []string) {
	cs, ss := map[string]bool{}, map[string]bool{}
	for _, s := range services {
		if c := s.TaskTemplate.ContainerSpec; c != nil {
			for _, r := range c.Configs {
				cs[r.ConfigName] = true
			}
			for _, r := range c.Secrets {
				ss[r.SecretName] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(cs)), slices.Sorted(maps.Keys(ss))
}

// Encode compresses the revision for its record. A revision too large for
// one drops its rendered document, then its specs (Partial); r is left as
// it was stored.
func Encode(r *Revision) ([]byte, error) {
	data, err := record.Encode(r)
	if !errors.Is(err, record.ErrTooLarge) {
		return data, err
	}
	slim := *r
	slim.Rendered = ""
	if data, err = record.Encode(&slim); !errors.Is(err, record.ErrTooLarge) {
		*r = slim
		return data, err
	}
	slim.Services, slim.Networks, slim.Partial = nil, nil, true
	data, err = record.Encode(&slim)
	if err == nil {
		*r = slim
	}
	return data, err
}

// Decode reads a revision from its record.
func Decode(rec record.Record) (*Revision, error) {
	var r Revision
	if err := rec.Decode(&r); err != nil {
		return nil, err
	}
	if r.Schema > Schema {
		return nil, fmt.Errorf("revision %d of stack %q was written by a newer deckhand (schema %d, this one reads %d); upgrade deckhand", rec.Seq, rec.Stack, r.Schema, Schema)
	}
	r.Number, r.Outcome = rec.Seq, Outcome(rec.State)
	return &r, nil
}

// DecodeAll reads revisions from their records, in the records' order.
func DecodeAll(recs []record.Record) ([]*Revision, error) {
	out := make([]*Revision, 0, len(recs))
	for _, rec := range recs {
		r, err := Decode(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Find returns revision n of revs, or an error that lists the ones there are.
func Find(revs []*Revision, stack string, n int) (*Revision, error) {
	for _, r := range revs {
		if r.Number == n {
			return r, nil
		}
	}
	if len(revs) == 0 {
		return nil, fmt.Errorf("stack %q has no recorded revisions; deckhand records one with every deploy that changes something", stack)
	}
	return nil, fmt.Errorf("stack %q has no revision %d; it has revisions %d to %d: list them with deckhand history %s", stack, n, revs[0].Number, revs[len(revs)-1].Number, stack)
}

// Images maps each service of the revision to its image.
func (r *Revision) Images() map[string]string {
	out := make(map[string]string, len(r.Services))
	for name, s := range r.Services {
		if cs := s.TaskTemplate.ContainerSpec; cs != nil {
			out[name] = cs.Image
		}
	}
	return out
}

// ImageChange is a service whose image a revision changed.
type ImageChange struct {
	Service string `json:"service"`
	Image   string `json:"image"` // "" when the revision removed the service
}

// ImagesChanged lists the services whose image differs between prev (nil:
// none) and r, by name.
func ImagesChanged(prev, r *Revision) []ImageChange {
	var before map[string]string
	if prev != nil {
		before = prev.Images()
	}
	after := r.Images()
	var out []ImageChange
	for _, name := range slices.Sorted(maps.Keys(after)) {
		if img, ok := before[name]; !ok || img != after[name] {
			out = append(out, ImageChange{Service: name, Image: after[name]})
		}
	}
	if prev != nil && !prev.Partial && !r.Partial {
		for _, name := range slices.Sorted(maps.Keys(before)) {
			if _, ok := after[name]; !ok {
				out = append(out, ImageChange{Service: name})
			}
		}
	}
	slices.SortFunc(out, func(a, b ImageChange) int { return strings.Compare(a.Service, b.Service) })
	return out
}

// InUse lists the config and secret versions that revs use.
func InUse(revs []*Revision) (configs, secrets map[string]bool) {
	configs, secrets = map[string]bool{}, map[string]bool{}
	for _, r := range revs {
		for _, n := range r.Configs {
			configs[n] = true
		}
		for _, n := range r.Secrets {
			secrets[n] = true
		}
	}
	return configs, secrets
}

// Compare lists the service changes that lead from one set of specs to
// another, by name: created, updated (with the changed fields, env values
// redacted as in plan) and removed.
func Compare(from, to map[string]swarm.ServiceSpec) []plan.Change {
	var out []plan.Change
	for _, name := range slices.Sorted(maps.Keys(to)) {
		prev, ok := from[name]
		if !ok {
			out = append(out, plan.Change{Kind: plan.KindService, Name: name, Action: plan.ActionCreate})
			continue
		}
		if diff := plan.DiffServiceSpecs(prev, to[name]); len(diff) > 0 {
			out = append(out, plan.Change{Kind: plan.KindService, Name: name, Action: plan.ActionUpdate, Diff: diff})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(from)) {
		if _, ok := to[name]; !ok {
			out = append(out, plan.Change{Kind: plan.KindService, Name: name, Action: plan.ActionRemove})
		}
	}
	slices.SortStableFunc(out, func(a, b plan.Change) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Running is the newest of revs (sorted by number) whose services the live
// specs match exactly, or nil.
func Running(revs []*Revision, live map[string]swarm.ServiceSpec) *Revision {
	for i := len(revs) - 1; i >= 0; i-- {
		if !revs[i].Partial && len(Compare(revs[i].Services, live)) == 0 {
			return revs[i]
		}
	}
	return nil
}

// RenderPinned renders the stack's compose document with each service's
// image replaced by images[swarm name] (its pinned reference).
func RenderPinned(st *compose.Stack, images map[string]string) ([]byte, error) {
	p := *st.Project
	p.Services = maps.Clone(p.Services)
	for key, svc := range p.Services {
		if img, ok := images[st.ServiceName(key)]; ok {
			svc.Image = img
			p.Services[key] = svc
		}
	}
	pinned := *st
	pinned.Project = &p
	return pinned.YAML()
}

// ShortImage is an image reference for a table: the repository's last
// element, the tag, and 12 digits of the digest (app:v2@9568f1836a21).
func ShortImage(ref string) string {
	name, digest, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if _, hex, ok := strings.Cut(digest, ":"); ok {
		return name + "@" + hex[:min(12, len(hex))]
	}
	return name
}

// Summary is a revision as history lists it.
type Summary struct {
	Number        int           `json:"revision"`
	Time          time.Time     `json:"time"`
	Who           record.Who    `json:"who"`
	Commit        string        `json:"commit,omitempty"` // the CI commit, shortened
	Action        Action        `json:"action"`
	From          string        `json:"from,omitempty"`
	Outcome       Outcome       `json:"outcome"`
	Adopted       bool          `json:"adopted,omitempty"`
	Partial       bool          `json:"partial,omitempty"`
	ImagesChanged []ImageChange `json:"images_changed"`
}

// Summarize lists revs (sorted by number) for history: each with the
// images it changed from the one before it (all of them for the first).
func Summarize(revs []*Revision) []Summary {
	out := make([]Summary, 0, len(revs))
	var prev *Revision
	for _, r := range revs {
		changed := ImagesChanged(prev, r)
		if changed == nil {
			changed = []ImageChange{}
		}
		out = append(out, Summary{Number: r.Number, Time: r.Time, Who: r.Who, Commit: r.Who.Commit(), Action: r.Action, From: r.From,
			Outcome: r.Outcome, Adopted: r.Adopted, Partial: r.Partial, ImagesChanged: changed})
		prev = r
	}
	return out
}

// Describe says what made the revision: "deploy", "deploy, images from
// app@7", "rollback to 2".
func (s Summary) Describe() string {
	switch {
	case s.Action == ActionRollback:
		return "rollback to " + s.From
	case s.From != "":
		return string(s.Action) + ", images from " + s.From
	}
	return string(s.Action)
}
