package plan

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// ResolveMode says when image digests are looked up in the registry.
type ResolveMode string

// Resolve-image modes, as docker stack deploy spells them.
const (
	ResolveAlways  ResolveMode = "always"
	ResolveChanged ResolveMode = "changed"
	ResolveNever   ResolveMode = "never"
)

// ParseResolveMode checks a resolve-image mode given by a user.
func ParseResolveMode(s string) (ResolveMode, error) {
	switch m := ResolveMode(s); m {
	case ResolveAlways, ResolveChanged, ResolveNever:
		return m, nil
	}
	return "", fmt.Errorf("unknown resolve-image mode %q: use always, changed or never", s)
}

// Kind is the kind of object a change writes.
type Kind string

// Kinds of objects a plan touches, in the order they are applied.
const (
	KindNetwork Kind = "network"
	KindConfig  Kind = "config"
	KindSecret  Kind = "secret"
	KindService Kind = "service"
)

// Action is what a change does to its object.
type Action string

// Actions a plan takes on an object (rollback is the rollback command's).
const (
	ActionCreate   Action = "create"
	ActionUpdate   Action = "update"
	ActionRemove   Action = "remove"
	ActionRollback Action = "rollback"
)

// ResolvedImage is an image reference pinned to its registry digest.
type ResolvedImage struct {
	Ref       string           // name:tag@digest, as docker writes it into the spec
	Platforms []swarm.Platform // platforms the image is built for
}

// Options steers how desired and live state are compared.
type Options struct {
	Prune        bool
	KeepVersions int                      // hash-named config/secret versions kept per key when pruning
	ResolveImage ResolveMode              // always, changed or never
	Images       map[string]ResolvedImage // compose image → pinned image, for images resolved
	// NetworkNames maps network IDs to names: the engine stores a service's
	// networks by ID, the file names them.
	NetworkNames map[string]string
	// KeepConfigs and KeepSecrets are versions that recorded revisions
	// still use: pruning never removes them.
	KeepConfigs, KeepSecrets map[string]bool
}

// NamedNetworks returns spec with its network attachments named, not IDed.
func NamedNetworks(spec swarm.ServiceSpec, names map[string]string) swarm.ServiceSpec {
	if len(spec.TaskTemplate.Networks) == 0 {
		return spec
	}
	nets := slices.Clone(spec.TaskTemplate.Networks)
	for i, n := range nets {
		if name, ok := names[n.Target]; ok {
			nets[i].Target = name
		}
	}
	slices.SortStableFunc(nets, func(a, b swarm.NetworkAttachmentConfig) int { return cmp.Compare(a.Target, b.Target) })
	spec.TaskTemplate.Networks = nets
	return spec
}

// FieldDiff is one changed field of a service; env values are never shown.
type FieldDiff struct {
	Field string `json:"field"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
}

// Change is one write a deploy makes. Its payload (the spec to write and
// what it replaces) is for the code that applies it; JSON shows the summary.
type Change struct {
	Kind   Kind        `json:"kind"`
	Name   string      `json:"name"`
	Action Action      `json:"action"`
	Diff   []FieldDiff `json:"diff,omitempty"`

	ID       string                       `json:"-"` // engine ID for updates and removals
	Version  swarm.Version                `json:"-"` // the object's version an update is based on
	Previous *swarm.ServiceSpec           `json:"-"` // live spec a service update replaces
	Service  *swarm.ServiceSpec           `json:"-"` // service spec to create or update with
	Network  *client.NetworkCreateOptions `json:"-"` // network to create (named Name)
	Config   *swarm.ConfigSpec            `json:"-"` // config to create or relabel
	Secret   *swarm.SecretSpec            `json:"-"` // secret to create or relabel
	Image    string                       `json:"-"` // compose image of a service write, for registry auth
}

// Filter returns the changes of kind with one of actions, in plan order.
func Filter(changes []Change, kind Kind, actions ...Action) []Change {
	var out []Change
	for _, c := range changes {
		if c.Kind == kind && slices.Contains(actions, c.Action) {
			out = append(out, c)
		}
	}
	return out
}

// changedServices lists the services a plan creates or updates.
func changedServices(changes []Change) []string {
	var out []string
	for _, c := range Filter(changes, KindService, ActionCreate, ActionUpdate) {
		out = append(out, c.Name)
	}
	return out
}

// Plan is what a deploy of a stack would write, in apply order.
type Plan struct {
	Stack   string   `json:"stack"`
	Changes []Change `json:"changes"`
	// Unchanged lists services whose spec already matches the file.
	Unchanged []string `json:"unchanged"`
	// Waves orders the service writes by depends_on; nil when nothing
	// changed waits for anything (one parallel write, as without it).
	Waves []Wave `json:"waves,omitempty"`
}

// HasChanges reports whether applying the plan writes anything.
func (p *Plan) HasChanges() bool { return len(p.Changes) > 0 }

// Make compares desired specs with the live stack. It is pure: no engine.
func Make(d *swarmspec.Desired, live *Live, o Options) (*Plan, error) {
	d = adoptLegacySecrets(d, live)
	p := &Plan{Stack: d.Namespace, Changes: []Change{}, Unchanged: []string{}}

	liveNets := map[string]bool{}
	for _, n := range live.Networks {
		liveNets[n.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(d.Networks)) {
		if !liveNets[name] {
			opts := d.Networks[name]
			p.Changes = append(p.Changes, Change{Kind: KindNetwork, Name: name, Action: ActionCreate, Network: &opts})
		}
	}

	liveConfigs := map[string]swarm.Config{}
	for _, c := range live.Configs {
		liveConfigs[c.Spec.Name] = c
	}
	for _, name := range slices.Sorted(maps.Keys(d.Configs)) {
		spec := d.Configs[name]
		cur, ok := liveConfigs[name]
		switch {
		case !ok:
			p.Changes = append(p.Changes, Change{Kind: KindConfig, Name: name, Action: ActionCreate, Config: &spec})
		case !maps.Equal(cur.Spec.Labels, spec.Labels) || !bytes.Equal(cur.Spec.Data, spec.Data):
			p.Changes = append(p.Changes, Change{Kind: KindConfig, Name: name, Action: ActionUpdate, Config: &spec, ID: cur.ID, Version: cur.Version,
				Diff: labelDiff(cur.Spec.Labels, spec.Labels)})
		}
	}
	liveSecrets := map[string]swarm.Secret{}
	for _, s := range live.Secrets {
		liveSecrets[s.Spec.Name] = s
	}
	for _, name := range slices.Sorted(maps.Keys(d.Secrets)) {
		spec := d.Secrets[name]
		cur, ok := liveSecrets[name]
		switch {
		case !ok:
			p.Changes = append(p.Changes, Change{Kind: KindSecret, Name: name, Action: ActionCreate, Secret: &spec})
		case !maps.Equal(cur.Spec.Labels, spec.Labels):
			p.Changes = append(p.Changes, Change{Kind: KindSecret, Name: name, Action: ActionUpdate, Secret: &spec, ID: cur.ID, Version: cur.Version,
				Diff: labelDiff(cur.Spec.Labels, spec.Labels)})
		}
	}

	liveServices := map[string]swarm.Service{}
	for _, s := range live.Services {
		liveServices[s.Spec.Name] = s
	}
	for _, name := range slices.Sorted(maps.Keys(d.Services)) {
		spec := d.Services[name]
		image := spec.TaskTemplate.ContainerSpec.Image
		cur, exists := liveServices[name]
		if err := pinImage(&spec, cur, exists, o); err != nil {
			return nil, err
		}
		if !exists {
			p.Changes = append(p.Changes, Change{Kind: KindService, Name: name, Action: ActionCreate, Service: &spec, Image: image})
			continue
		}
		// Stack deploy has no --force: keep the live ForceUpdate counter.
		spec.TaskTemplate.ForceUpdate = cur.Spec.TaskTemplate.ForceUpdate
		diff := DiffServiceSpecs(NamedNetworks(cur.Spec, o.NetworkNames), spec)
		if len(diff) == 0 {
			p.Unchanged = append(p.Unchanged, name)
			continue
		}
		prev := cur.Spec
		p.Changes = append(p.Changes, Change{Kind: KindService, Name: name, Action: ActionUpdate, Diff: diff,
			Service: &spec, Previous: &prev, ID: cur.ID, Version: cur.Version, Image: image})
	}

	if o.Prune {
		for _, name := range slices.Sorted(maps.Keys(liveServices)) {
			if _, ok := d.Services[name]; !ok {
				p.Changes = append(p.Changes, Change{Kind: KindService, Name: name, Action: ActionRemove, ID: liveServices[name].ID})
			}
		}
		used := usedObjects(d)
		maps.Copy(used.configs, o.KeepConfigs)
		maps.Copy(used.secrets, o.KeepSecrets)
		for _, c := range staleVersions(configVersions(live.Configs), d.Configs, used.configs, o.KeepVersions) {
			p.Changes = append(p.Changes, Change{Kind: KindConfig, Name: c.name, Action: ActionRemove, ID: c.id})
		}
		for _, s := range staleVersions(secretVersions(live.Secrets), d.Secrets, used.secrets, o.KeepVersions) {
			p.Changes = append(p.Changes, Change{Kind: KindSecret, Name: s.name, Action: ActionRemove, ID: s.id})
		}
	}
	if len(d.DependsOn) > 0 {
		p.Waves = Waves(d.DependsOn, changedServices(p.Changes))
	}
	return p, nil
}

// pinImage sets the image (and platforms) the service is written with, the
// way docker stack deploy does for each --resolve-image mode.
func pinImage(spec *swarm.ServiceSpec, cur swarm.Service, exists bool, o Options) error {
	cs := spec.TaskTemplate.ContainerSpec
	image := cs.Image
	keepLive := exists && image == cur.Spec.Labels[convert.LabelImage] && o.ResolveImage != ResolveAlways
	if r, ok := o.Images[image]; ok && !keepLive {
		cs.Image = r.Ref
		if len(r.Platforms) > 0 {
			if spec.TaskTemplate.Placement == nil {
				spec.TaskTemplate.Placement = &swarm.Placement{}
			}
			spec.TaskTemplate.Placement.Platforms = r.Platforms
		}
		return nil
	}
	if keepLive {
		cs.Image = cur.Spec.TaskTemplate.ContainerSpec.Image
		if pl := cur.Spec.TaskTemplate.Placement; pl != nil && len(pl.Platforms) > 0 {
			if spec.TaskTemplate.Placement == nil {
				spec.TaskTemplate.Placement = &swarm.Placement{}
			}
			spec.TaskTemplate.Placement.Platforms = pl.Platforms
		}
		return nil
	}
	// The engine client tags untagged images with :latest before writing.
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Errorf("service %q: invalid image reference %q: %w", spec.Name, image, err)
	}
	if _, digested := named.(reference.Digested); !digested {
		cs.Image = reference.FamiliarString(reference.TagNameOnly(named))
	}
	return nil
}

type objectVersion struct {
	name, id, key string
	created       int64
}

func configVersions(items []swarm.Config) []objectVersion {
	var out []objectVersion
	for _, c := range items {
		if k := c.Spec.Labels[compose.LabelKey]; k != "" {
			out = append(out, objectVersion{name: c.Spec.Name, id: c.ID, key: k, created: c.CreatedAt.UnixNano()})
		}
	}
	return out
}

func secretVersions(items []swarm.Secret) []objectVersion {
	var out []objectVersion
	for _, s := range items {
		if k := s.Spec.Labels[compose.LabelKey]; k != "" {
			out = append(out, objectVersion{name: s.Spec.Name, id: s.ID, key: k, created: s.CreatedAt.UnixNano()})
		}
	}
	return out
}

// staleVersions picks the hash-named versions to prune: per key, everything
// beyond the newest keep versions that the file neither declares nor uses.
func staleVersions[T any](versions []objectVersion, desired map[string]T, used map[string]bool, keep int) []objectVersion {
	byKey := map[string][]objectVersion{}
	for _, v := range versions {
		byKey[v.key] = append(byKey[v.key], v)
	}
	var out []objectVersion
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		vs := byKey[key]
		slices.SortFunc(vs, func(a, b objectVersion) int {
			return cmp.Or(cmp.Compare(b.created, a.created), cmp.Compare(a.name, b.name))
		})
		for i, v := range vs {
			if _, declared := desired[v.name]; declared || used[v.name] || i < keep {
				continue
			}
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b objectVersion) int { return cmp.Compare(a.name, b.name) })
	return out
}

type usedNames struct{ configs, secrets map[string]bool }

func usedObjects(d *swarmspec.Desired) usedNames {
	u := usedNames{configs: map[string]bool{}, secrets: map[string]bool{}}
	for _, s := range d.Services {
		if cs := s.TaskTemplate.ContainerSpec; cs != nil {
			for _, c := range cs.Configs {
				u.configs[c.ConfigName] = true
			}
			for _, c := range cs.Secrets {
				u.secrets[c.SecretName] = true
			}
		}
	}
	return u
}

func labelDiff(old, new map[string]string) []FieldDiff {
	var out []FieldDiff
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(old, new))) {
		o, okO := old[k]
		n, okN := new[k]
		if okO == okN && o == n {
			continue
		}
		out = append(out, FieldDiff{Field: "labels." + k, Old: o, New: n})
	}
	return out
}

func mergeKeys(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// redacted stands for an environment value in diffs.
const redacted = "(redacted)"

// DiffServiceSpecs lists the fields that differ between a live spec and a
// desired one, ignoring values the engine fills in by itself. Environment
// values are redacted: only the names of changed variables are shown.
func DiffServiceSpecs(live, desired swarm.ServiceSpec) []FieldDiff {
	a, b := normalizeSpec(live), normalizeSpec(desired)
	var out []FieldDiff
	envA, envB := takeEnv(a), takeEnv(b)
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(envA, envB))) {
		o, okO := envA[k]
		n, okN := envB[k]
		switch {
		case !okO:
			out = append(out, FieldDiff{Field: "env." + k, New: redacted})
		case !okN:
			out = append(out, FieldDiff{Field: "env." + k, Old: redacted})
		case o != n:
			out = append(out, FieldDiff{Field: "env." + k, Old: redacted, New: redacted})
		}
	}
	fa, fb := map[string]string{}, map[string]string{}
	flatten("", a, fa)
	flatten("", b, fb)
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(fa, fb))) {
		if fa[k] != fb[k] {
			out = append(out, FieldDiff{Field: fieldName(k), Old: fa[k], New: fb[k]})
		}
	}
	slices.SortStableFunc(out, func(x, y FieldDiff) int { return cmp.Compare(x.Field, y.Field) })
	return out
}

// fieldAliases names the fields people look for in a diff.
var fieldAliases = []struct{ prefix, alias string }{
	{"TaskTemplate.ContainerSpec.Image", "image"},
	{"TaskTemplate.ContainerSpec.Labels", "container_labels"},
	{"TaskTemplate.ContainerSpec.", "container."},
	{"TaskTemplate.Resources", "resources"},
	{"TaskTemplate.Placement", "placement"},
	{"TaskTemplate.RestartPolicy", "restart_policy"},
	{"TaskTemplate.Networks", "networks"},
	{"Mode.Replicated.Replicas", "replicas"},
	{"EndpointSpec.Ports", "ports"},
	{"EndpointSpec", "endpoint"},
	{"UpdateConfig", "update_config"},
	{"RollbackConfig", "rollback_config"},
	{"Labels", "labels"},
}

func fieldName(path string) string {
	for _, a := range fieldAliases {
		if strings.HasPrefix(path, a.prefix) {
			return a.alias + path[len(a.prefix):]
		}
	}
	return path
}

// normalizeSpec turns a spec into a generic tree without the values that
// are equivalent to absent ones, and without defaults the engine fills in.
func normalizeSpec(spec swarm.ServiceSpec) map[string]any {
	spec.TaskTemplate.ForceUpdate = 0
	var refs map[string]any
	if cs := spec.TaskTemplate.ContainerSpec; cs != nil {
		c := *cs
		if c.Isolation == "default" {
			c.Isolation = ""
		}
		// Compare config and secret references by name and mount, not by
		// ID (unknown before the object exists), and show them in one line.
		refs = map[string]any{}
		var cfgs, secs []any
		for _, r := range c.Configs {
			cfgs = append(cfgs, refSummary(r.ConfigName, r.File, r.Runtime != nil))
		}
		for _, r := range c.Secrets {
			var f *swarm.ConfigReferenceFileTarget
			if r.File != nil {
				ff := swarm.ConfigReferenceFileTarget(*r.File)
				f = &ff
			}
			secs = append(secs, refSummary(r.SecretName, f, false))
		}
		if len(cfgs) > 0 {
			refs["Configs"] = cfgs
		}
		if len(secs) > 0 {
			refs["Secrets"] = secs
		}
		c.Configs, c.Secrets = nil, nil
		spec.TaskTemplate.ContainerSpec = &c
	}
	// The engine stores 1 replica when none is given.
	if m := spec.Mode.Replicated; m != nil && m.Replicas == nil {
		one := uint64(1)
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	}
	// The engine stores 1 for a replicated job's unset completions and
	// concurrency: without this a job would run again on every deploy.
	if m := spec.Mode.ReplicatedJob; m != nil && (m.MaxConcurrent == nil || m.TotalCompletions == nil) {
		j, one := *m, uint64(1)
		if j.MaxConcurrent == nil {
			j.MaxConcurrent = &one
		}
		if j.TotalCompletions == nil {
			j.TotalCompletions = &one
		}
		spec.Mode.ReplicatedJob = &j
	}
	// The engine fills in "pause", the default failure action, and
	// "stop-first", the default order.
	for _, uc := range []**swarm.UpdateConfig{&spec.UpdateConfig, &spec.RollbackConfig} {
		if *uc == nil {
			continue
		}
		c := **uc
		if c.FailureAction == swarm.UpdateFailureActionPause {
			c.FailureAction = ""
		}
		if c.Order == swarm.UpdateOrderStopFirst {
			c.Order = ""
		}
		*uc = &c
	}
	if spec.TaskTemplate.Runtime == swarm.RuntimeContainer {
		spec.TaskTemplate.Runtime = ""
	}
	if e := spec.EndpointSpec; e != nil && e.Mode == swarm.ResolutionModeVIP {
		ec := *e
		ec.Mode = ""
		spec.EndpointSpec = &ec
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("marshal service spec: %v", err)) // a ServiceSpec always marshals
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		panic(fmt.Sprintf("unmarshal service spec: %v", err))
	}
	if len(refs) > 0 {
		tt, _ := tree["TaskTemplate"].(map[string]any)
		if cs, ok := tt["ContainerSpec"].(map[string]any); ok {
			maps.Copy(cs, refs)
		}
	}
	pruned, _ := pruneEmpty(tree).(map[string]any)
	if pruned == nil {
		pruned = map[string]any{}
	}
	return pruned
}

// pruneEmpty drops nulls, zero numbers, false, empty strings, lists and
// maps, which the API treats like absent fields.
func pruneEmpty(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			p := pruneEmpty(e)
			if p == nil {
				delete(t, k)
			} else {
				t[k] = p
			}
		}
		if len(t) == 0 {
			return nil
		}
		return t
	case []any:
		if len(t) == 0 {
			return nil
		}
		for i, e := range t {
			t[i] = pruneEmpty(e)
		}
		return t
	case string:
		if t == "" {
			return nil
		}
	case float64:
		if t == 0 {
			return nil
		}
	case bool:
		if !t {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

func takeEnv(tree map[string]any) map[string]string {
	out := map[string]string{}
	tt, _ := tree["TaskTemplate"].(map[string]any)
	cs, _ := tt["ContainerSpec"].(map[string]any)
	env, _ := cs["Env"].([]any)
	for _, e := range env {
		s, _ := e.(string)
		k, v, _ := strings.Cut(s, "=")
		out[k] = v
	}
	if cs != nil {
		delete(cs, "Env")
	}
	return out
}

func flatten(prefix string, v any, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		for i, e := range t {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		if t == nil {
			return
		}
		if s, ok := t.(string); ok {
			out[prefix] = s
			return
		}
		b, _ := json.Marshal(t)
		out[prefix] = string(b)
	}
}

// SpecsEqual reports whether two service specs are the same for the engine.
func SpecsEqual(a, b swarm.ServiceSpec) bool {
	return reflect.DeepEqual(normalizeSpec(a), normalizeSpec(b))
}

// refSummary is a config or secret reference in one comparable line.
func refSummary(name string, f *swarm.ConfigReferenceFileTarget, runtime bool) string {
	if runtime || f == nil {
		return name + " (runtime)"
	}
	return fmt.Sprintf("%s at %s (uid %s, gid %s, mode %04o)", name, f.Name, f.UID, f.GID, uint32(f.Mode))
}
