package stack

import (
	"context"
	"fmt"
	"maps"
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
	Namespace  string // the stack name
	Document   []byte // the rendered compose document (Stack.YAML)
	WorkingDir string // directory relative file paths are resolved against
	// Configs and Secrets carry the content of the stack's own configs and
	// secrets by compose key (Stack.Configs/Secrets); the document may omit it.
	Configs map[string]Object
	Secrets map[string]Object
	// Images optionally maps each image to the (namespaced) services using
	// it, so registry lookups can start before conversion.
	Images map[string][]string
}

// ConvertInputFor renders a loaded stack into the input of Convert.
func ConvertInputFor(s *Stack) (ConvertInput, error) {
	doc, err := s.YAML()
	if err != nil {
		return ConvertInput{}, err
	}
	images := map[string][]string{}
	for key, svc := range s.Project.Services {
		images[svc.Image] = append(images[svc.Image], s.ServiceName(key))
	}
	return ConvertInput{Namespace: s.Name, Document: doc, WorkingDir: s.Project.WorkingDir, Configs: s.Configs, Secrets: s.Secrets, Images: images}, nil
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
	inline, err := fixupDocument(dict, in)
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
// reads: it drops top-level keys docker does not know, takes the stack's own
// configs and secrets out (their content comes from the loaded stack, and
// they are marked external so the loader keeps their names for service
// references), and restores docker's default secret target.
func fixupDocument(dict map[string]any, in ConvertInput) (inlineObjects, error) {
	for k := range dict {
		switch {
		case k == "version", k == "services", k == "networks", k == "volumes", k == "configs", k == "secrets", strings.HasPrefix(k, "x-"):
		default:
			delete(dict, k)
		}
	}
	out := inlineObjects{
		configs: takeInline(dict, "configs", in.Configs),
		secrets: takeInline(dict, "secrets", in.Secrets),
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
func takeInline(dict map[string]any, section string, objects map[string]Object) map[string]inlineObject {
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
type idLookup struct {
	client.APIClient
	ids ObjectIDs
}

// SecretList answers docker/cli's secret lookup by name.
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

// ConfigList answers docker/cli's config lookup by name.
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
