package swarmspec

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/schema"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/compose"
)

// LabelNamespace is the label docker puts on every object of a stack.
const LabelNamespace = convert.LabelNamespace

// PendingIDPrefix marks the ID of a config or secret that does not exist
// yet; FillIDs replaces it with the real ID once the object is created.
const PendingIDPrefix = "pending:"

// defaultNetworkDriver is the driver docker stack deploy creates networks with.
const defaultNetworkDriver = "overlay"

// Desired is the swarm state a stack document asks for, as engine API specs
// keyed by their final (namespaced) names.
type Desired struct {
	Namespace        string
	Networks         map[string]client.NetworkCreateOptions
	ExternalNetworks []string
	Configs          map[string]swarm.ConfigSpec
	Secrets          map[string]swarm.SecretSpec
	ExternalConfigs  []string
	ExternalSecrets  []string
	Services         map[string]swarm.ServiceSpec
	// DependsOn is each service's depends_on by swarm name (never in a
	// spec: docker stack deploy ignores it); nil without depends_on.
	DependsOn map[string][]compose.Dependency `json:",omitempty"`
}

// ObjectIDs maps existing config and secret names to their engine IDs.
type ObjectIDs struct {
	Configs map[string]string
	Secrets map[string]string
}

// Convert turns a loaded stack into the specs docker stack deploy would
// create for it, using docker/cli's own compose loader and converter over
// the stack's rendered document. Configs and secrets absent from ids get a
// pending ID (see FillIDs).
func Convert(ctx context.Context, st *compose.Stack, ids ObjectIDs) (*Desired, error) {
	doc, err := st.YAML()
	if err != nil {
		return nil, err
	}
	in := bridge{namespace: st.Name, workingDir: st.Project.WorkingDir, configs: st.Configs, secrets: st.Secrets}
	dict, err := loader.ParseYAML(doc)
	if err != nil {
		return nil, fmt.Errorf("parse rendered stack %q: %w", in.namespace, err)
	}
	inline, err := fixupDocument(dict, in)
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", in.namespace, err)
	}
	cfg, err := loader.Load(composetypes.ConfigDetails{
		WorkingDir:  in.workingDir,
		ConfigFiles: []composetypes.ConfigFile{{Filename: "rendered.yml", Config: dict}},
		Version:     schema.Version(dict),
		Environment: map[string]string{},
	}, func(o *loader.Options) { o.SkipValidation = true })
	if err != nil {
		return nil, fmt.Errorf("convert stack %q: %w", in.namespace, err)
	}
	for _, svc := range cfg.Services {
		if svc.Image == "" {
			return nil, fmt.Errorf("service %q has no image; set `image:` for it", svc.Name)
		}
		if _, err := reference.ParseAnyReference(svc.Image); err != nil {
			return nil, fmt.Errorf("service %q: invalid image reference %q: %w", svc.Name, svc.Image, err)
		}
	}

	ns := convert.NewNamespace(in.namespace)
	d := &Desired{
		Namespace: in.namespace,
		DependsOn: swarmDependencies(st),
		Configs:   map[string]swarm.ConfigSpec{},
		Secrets:   map[string]swarm.SecretSpec{},
	}
	nets, ext := convert.Networks(ns, cfg.Networks, declaredNetworks(cfg.Services))
	for name, o := range nets {
		if o.Driver == "" {
			o.Driver = defaultNetworkDriver
			nets[name] = o
		}
	}
	d.Networks = nets
	d.ExternalNetworks = sortedUnique(ext)

	secrets, err := convert.Secrets(ns, withoutInline(cfg.Secrets, inline.secrets))
	if err != nil {
		return nil, fmt.Errorf("stack %q: read secrets: %w", in.namespace, err)
	}
	for _, s := range secrets {
		d.Secrets[s.Name] = s
	}
	configs, err := convert.Configs(ns, withoutInline(cfg.Configs, inline.configs))
	if err != nil {
		return nil, fmt.Errorf("stack %q: read configs: %w", in.namespace, err)
	}
	for _, c := range configs {
		d.Configs[c.Name] = c
	}
	for _, o := range inline.secrets {
		d.Secrets[o.name] = swarm.SecretSpec{Annotations: swarm.Annotations{Name: o.name, Labels: convert.AddStackLabel(ns, o.labels)}, Data: o.data}
	}
	for _, o := range inline.configs {
		d.Configs[o.name] = swarm.ConfigSpec{Annotations: swarm.Annotations{Name: o.name, Labels: convert.AddStackLabel(ns, o.labels)}, Data: o.data}
	}
	for key, s := range cfg.Secrets {
		if _, ok := inline.secrets[key]; !ok && s.External.External {
			d.ExternalSecrets = append(d.ExternalSecrets, objectName(ns, key, s.Name))
		}
	}
	for key, c := range cfg.Configs {
		if _, ok := inline.configs[key]; !ok && c.External.External {
			d.ExternalConfigs = append(d.ExternalConfigs, objectName(ns, key, c.Name))
		}
	}
	d.ExternalSecrets = sortedUnique(d.ExternalSecrets)
	d.ExternalConfigs = sortedUnique(d.ExternalConfigs)

	lookup, err := newIDLookup(ids)
	if err != nil {
		return nil, err
	}
	specs, err := convert.Services(ctx, ns, cfg, lookup)
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", in.namespace, err)
	}
	d.Services = make(map[string]swarm.ServiceSpec, len(specs))
	for _, spec := range specs {
		d.Services[spec.Name] = spec
	}
	return d, nil
}

func objectName(ns convert.Namespace, key, name string) string {
	if name != "" {
		return name
	}
	return ns.Scope(key)
}

// declaredNetworks is the set of networks the services attach to, as docker computes it.
func declaredNetworks(services []composetypes.ServiceConfig) map[string]struct{} {
	out := map[string]struct{}{}
	for _, s := range services {
		if len(s.Networks) == 0 {
			out["default"] = struct{}{}
			continue
		}
		for n := range s.Networks {
			out[n] = struct{}{}
		}
	}
	return out
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// bridge is what conversion takes from the loaded stack besides its
// rendered document.
type bridge struct {
	namespace, workingDir string
	configs, secrets      map[string]compose.Object // by compose key
}

// inlineObject is a config or secret whose data is in the document
// (`content:`) or the environment (`environment:`), which docker/cli's loader
// does not know.
type inlineObject struct {
	name   string
	labels map[string]string
	data   []byte
}

type inlineObjects struct {
	configs map[string]inlineObject
	secrets map[string]inlineObject
}

func withoutInline[T any](all map[string]T, inline map[string]inlineObject) map[string]T {
	out := make(map[string]T, len(all))
	for k, v := range all {
		if _, ok := inline[k]; !ok {
			out[k] = v
		}
	}
	return out
}

// fixupDocument bridges what compose-go renders and what docker/cli's loader
// reads: it drops top-level keys docker does not know, takes the stack's own
// configs and secrets out (their content comes from the loaded stack, and
// they are marked external so the loader keeps their names for service
// references), and restores docker's default secret target.
func fixupDocument(dict map[string]any, in bridge) (inlineObjects, error) {
	for k := range dict {
		switch {
		case k == "version", k == "services", k == "networks", k == "volumes", k == "configs", k == "secrets", strings.HasPrefix(k, "x-"):
		default:
			delete(dict, k)
		}
	}
	out := inlineObjects{
		configs: takeInline(dict, "configs", in.configs),
		secrets: takeInline(dict, "secrets", in.secrets),
	}
	services, _ := dict["services"].(map[string]any)
	for _, s := range services {
		svc, ok := s.(map[string]any)
		if !ok {
			continue
		}
		if err := fixupService(svc); err != nil {
			return out, err
		}
	}
	return out, nil
}

// fixupService converts the scalar forms compose-go renders (octal modes and
// published ports as strings, cpus as numbers) into the ones docker/cli's
// loader decodes, and drops the secret target compose-go defaults.
func fixupService(svc map[string]any) error {
	for _, section := range []string{"configs", "secrets"} {
		refs, _ := svc[section].([]any)
		for _, r := range refs {
			m, ok := r.(map[string]any)
			if !ok {
				continue
			}
			if src, _ := m["source"].(string); section == "secrets" && src != "" && m["target"] == "/run/secrets/"+src {
				delete(m, "target")
			}
			if mode, ok := m["mode"].(string); ok {
				v, err := strconv.ParseUint(mode, 8, 32)
				if err != nil {
					return fmt.Errorf("%s %v: mode %q is not an octal file mode", section, m["source"], mode)
				}
				m["mode"] = int(v)
			}
		}
	}
	ports, _ := svc["ports"].([]any)
	for _, p := range ports {
		m, ok := p.(map[string]any)
		if !ok {
			continue
		}
		if pub, ok := m["published"].(string); ok {
			if pub == "" {
				delete(m, "published")
				continue
			}
			v, err := strconv.ParseUint(pub, 10, 16)
			if err != nil {
				return fmt.Errorf("published port %q: swarm publishes single ports only; use one port per entry", pub)
			}
			m["published"] = int(v)
		}
	}
	deploy, _ := svc["deploy"].(map[string]any)
	resources, _ := deploy["resources"].(map[string]any)
	for _, kind := range []string{"limits", "reservations"} {
		r, _ := resources[kind].(map[string]any)
		switch cpus := r["cpus"].(type) {
		case float64:
			r["cpus"] = strconv.FormatFloat(cpus, 'f', -1, 64)
		case int:
			r["cpus"] = strconv.Itoa(cpus)
		}
	}
	return nil
}

// takeInline replaces the section's entries that the stack has content for
// with external references to their final names.
func takeInline(dict map[string]any, section string, objects map[string]compose.Object) map[string]inlineObject {
	out := map[string]inlineObject{}
	objs, _ := dict[section].(map[string]any)
	for _, key := range slices.Sorted(maps.Keys(objs)) {
		obj, ok := objects[key]
		if !ok || obj.External || obj.Data == nil {
			continue
		}
		out[key] = inlineObject{name: obj.Name, labels: maps.Clone(obj.Labels), data: obj.Data}
		objs[key] = map[string]any{"name": obj.Name, "external": true}
	}
	return out
}

// idLookup answers docker/cli's secret and config lookups from a name→ID
// table, so conversion needs no engine; unknown names get a pending ID.
// docker/cli asks for a whole API client; every other call reaches
// noEngine and fails with an error that says so.
type idLookup struct {
	*client.Client
	ids ObjectIDs
}

// noEngine is the transport of idLookup's client: conversion makes no
// engine calls beyond the lookups idLookup answers itself.
type noEngine struct{}

func (noEngine) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("swarmspec: conversion asked the engine for %s %s; docker/cli's converter needs more than config and secret lookups now, so teach idLookup to answer it", r.Method, r.URL.Path)
}

// newIDLookup returns an idLookup over ids.
func newIDLookup(ids ObjectIDs) (idLookup, error) {
	c, err := client.New(client.WithHTTPClient(&http.Client{Transport: noEngine{}}))
	if err != nil {
		return idLookup{}, fmt.Errorf("set up conversion: %w", err)
	}
	return idLookup{Client: c, ids: ids}, nil
}

// SecretList answers docker/cli's secret lookup by name.
func (l idLookup) SecretList(_ context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	var res client.SecretListResult
	for _, name := range slices.Sorted(maps.Keys(o.Filters["name"])) {
		id, ok := l.ids.Secrets[name]
		if !ok {
			id = PendingIDPrefix + name
		}
		res.Items = append(res.Items, swarm.Secret{ID: id, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}}})
	}
	return res, nil
}

// ConfigList answers docker/cli's config lookup by name.
func (l idLookup) ConfigList(_ context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	var res client.ConfigListResult
	for _, name := range slices.Sorted(maps.Keys(o.Filters["name"])) {
		id, ok := l.ids.Configs[name]
		if !ok {
			id = PendingIDPrefix + name
		}
		res.Items = append(res.Items, swarm.Config{ID: id, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}}})
	}
	return res, nil
}

// FillIDs returns spec with the pending config and secret IDs that ids
// knows replaced by the real ones.
func FillIDs(spec swarm.ServiceSpec, ids ObjectIDs) swarm.ServiceSpec {
	if spec.TaskTemplate.ContainerSpec == nil {
		return spec
	}
	cs := *spec.TaskTemplate.ContainerSpec
	cs.Configs = slices.Clone(cs.Configs)
	for i, r := range cs.Configs {
		if id, ok := ids.Configs[r.ConfigName]; ok && strings.HasPrefix(r.ConfigID, PendingIDPrefix) {
			rc := *r
			rc.ConfigID = id
			cs.Configs[i] = &rc
		}
	}
	cs.Secrets = slices.Clone(cs.Secrets)
	for i, r := range cs.Secrets {
		if id, ok := ids.Secrets[r.SecretName]; ok && strings.HasPrefix(r.SecretID, PendingIDPrefix) {
			rc := *r
			rc.SecretID = id
			cs.Secrets[i] = &rc
		}
	}
	spec.TaskTemplate.ContainerSpec = &cs
	return spec
}

// swarmDependencies is the stack's depends_on with services named as swarm
// names them (STACK_key).
func swarmDependencies(st *compose.Stack) map[string][]compose.Dependency {
	if len(st.DependsOn) == 0 {
		return nil
	}
	out := map[string][]compose.Dependency{}
	for key, deps := range st.DependsOn {
		named := make([]compose.Dependency, len(deps))
		for i, d := range deps {
			d.Service = st.ServiceName(d.Service)
			named[i] = d
		}
		out[st.ServiceName(key)] = named
	}
	return out
}
