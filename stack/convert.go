package stack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/docker/cli/cli/compose/loader"
	"github.com/docker/cli/cli/compose/schema"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// LabelNamespace is the label docker puts on every object of a stack.
const LabelNamespace = convert.LabelNamespace

// pendingIDPrefix marks the ID of a config or secret that does not exist yet;
// apply replaces it with the real ID once the object is created.
const pendingIDPrefix = "pending:"

// defaultNetworkDriver is the driver docker stack deploy creates networks with.
const defaultNetworkDriver = "overlay"

// ConvertInput is what Convert turns into swarm specs.
type ConvertInput struct {
	Namespace  string            // the stack name
	Document   []byte            // the rendered compose document (Stack.YAML)
	WorkingDir string            // directory relative file paths are resolved against
	Environ    map[string]string // values of configs/secrets declared with `environment:`
}

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
}

// ObjectIDs maps existing config and secret names to their engine IDs.
type ObjectIDs struct {
	Configs map[string]string
	Secrets map[string]string
}

// Convert turns a rendered stack document into the specs docker stack deploy
// would create for it, using docker/cli's own compose loader and converter.
// Configs and secrets absent from ids get a pending ID that apply fills in.
func Convert(ctx context.Context, in ConvertInput, ids ObjectIDs) (*Desired, error) {
	dict, err := loader.ParseYAML(in.Document)
	if err != nil {
		return nil, fmt.Errorf("parse rendered stack %q: %w", in.Namespace, err)
	}
	inline, err := fixupDocument(dict, in.Environ)
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", in.Namespace, err)
	}
	cfg, err := loader.Load(composetypes.ConfigDetails{
		WorkingDir:  in.WorkingDir,
		ConfigFiles: []composetypes.ConfigFile{{Filename: "rendered.yml", Config: dict}},
		Version:     schema.Version(dict),
		Environment: map[string]string{},
	}, func(o *loader.Options) { o.SkipValidation = true })
	if err != nil {
		return nil, fmt.Errorf("convert stack %q: %w", in.Namespace, err)
	}
	for _, svc := range cfg.Services {
		if svc.Image == "" {
			return nil, fmt.Errorf("service %q has no image; set `image:` for it", svc.Name)
		}
		if _, err := reference.ParseAnyReference(svc.Image); err != nil {
			return nil, fmt.Errorf("service %q: invalid image reference %q: %w", svc.Name, svc.Image, err)
		}
	}

	ns := convert.NewNamespace(in.Namespace)
	d := &Desired{
		Namespace: in.Namespace,
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
		return nil, fmt.Errorf("stack %q: read secrets: %w", in.Namespace, err)
	}
	for _, s := range secrets {
		d.Secrets[s.Name] = s
	}
	configs, err := convert.Configs(ns, withoutInline(cfg.Configs, inline.configs))
	if err != nil {
		return nil, fmt.Errorf("stack %q: read configs: %w", in.Namespace, err)
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

	specs, err := convert.Services(ctx, ns, cfg, idLookup{ids: ids})
	if err != nil {
		return nil, fmt.Errorf("stack %q: %w", in.Namespace, err)
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
// reads: it drops top-level keys docker does not know, takes inline configs
// and secrets out (marking them external so the loader keeps their names for
// service references), and restores docker's default secret target.
func fixupDocument(dict map[string]any, environ map[string]string) (inlineObjects, error) {
	for k := range dict {
		switch {
		case k == "version", k == "services", k == "networks", k == "volumes", k == "configs", k == "secrets", strings.HasPrefix(k, "x-"):
		default:
			delete(dict, k)
		}
	}
	var out inlineObjects
	var err error
	if out.configs, err = takeInline(dict, "configs", environ); err != nil {
		return out, err
	}
	if out.secrets, err = takeInline(dict, "secrets", environ); err != nil {
		return out, err
	}
	services, _ := dict["services"].(map[string]any)
	for _, s := range services {
		svc, ok := s.(map[string]any)
		if !ok {
			continue
		}
		refs, _ := svc["secrets"].([]any)
		for _, r := range refs {
			m, ok := r.(map[string]any)
			if !ok {
				continue
			}
			if src, _ := m["source"].(string); src != "" && m["target"] == "/run/secrets/"+src {
				delete(m, "target")
			}
		}
	}
	return out, nil
}

func takeInline(dict map[string]any, section string, environ map[string]string) (map[string]inlineObject, error) {
	out := map[string]inlineObject{}
	objs, _ := dict[section].(map[string]any)
	for _, key := range slices.Sorted(maps.Keys(objs)) {
		obj, ok := objs[key].(map[string]any)
		if !ok {
			continue
		}
		content, hasContent := obj["content"]
		env, hasEnv := obj["environment"]
		if !hasContent && !hasEnv {
			continue
		}
		name, _ := obj["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s %q has inline data but no rendered name; render the stack with deckhand", section[:len(section)-1], key)
		}
		o := inlineObject{name: name, labels: map[string]string{}}
		if hasContent {
			o.data = []byte(fmt.Sprint(content))
		} else {
			v, ok := environ[fmt.Sprint(env)]
			if !ok {
				return nil, fmt.Errorf("%s %q reads environment variable %q, which is not set; set it or use --env-file", section[:len(section)-1], key, env)
			}
			o.data = []byte(v)
		}
		if labels, ok := obj["labels"].(map[string]any); ok {
			for k, v := range labels {
				o.labels[k] = fmt.Sprint(v)
			}
		}
		out[key] = o
		objs[key] = map[string]any{"name": name, "external": true}
	}
	return out, nil
}

// idLookup answers docker/cli's secret and config lookups from a name→ID
// table, so conversion needs no engine; unknown names get a pending ID.
type idLookup struct {
	client.APIClient
	ids ObjectIDs
}

func (l idLookup) SecretList(_ context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	var res client.SecretListResult
	for _, name := range slices.Sorted(maps.Keys(o.Filters["name"])) {
		id, ok := l.ids.Secrets[name]
		if !ok {
			id = pendingIDPrefix + name
		}
		res.Items = append(res.Items, swarm.Secret{ID: id, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}}})
	}
	return res, nil
}

func (l idLookup) ConfigList(_ context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	var res client.ConfigListResult
	for _, name := range slices.Sorted(maps.Keys(o.Filters["name"])) {
		id, ok := l.ids.Configs[name]
		if !ok {
			id = pendingIDPrefix + name
		}
		res.Items = append(res.Items, swarm.Config{ID: id, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}}})
	}
	return res, nil
}
