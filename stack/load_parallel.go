package stack

import (
	"context"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/interpolation"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
)

// minServicesPerGroup is the smallest group of services worth a goroutine
// of its own: compose-go's per-load set-up costs about as much as this many
// services do.
const minServicesPerGroup = 32

// loadParallelism is how many groups a large stack loads in; tests change it.
var loadParallelism = runtime.GOMAXPROCS(0)

// loadPrepared loads interpolated models. compose-go spends its time walking
// every node of the model against its path tables, and services that do not
// refer to each other load independently, so a large stack is loaded in
// groups of services, in parallel, and the projects are merged: the result is
// what one load of the whole stack returns (a test holds it to that).
func loadPrepared(ctx context.Context, name, dir string, srcs []source, models []map[string]any, env map[string]string) (*types.Project, error) {
	groups := serviceGroups(models, loadParallelism)
	if len(groups) < 2 {
		return loadCompose(ctx, name, dir, env, preparedFiles(srcs, models, nil), true)
	}
	// compose-go rewrites the maps it is given in place: each group gets its
	// own copy of what the groups share, made before any of them starts.
	files := make([][]types.ConfigFile, len(groups))
	for i, g := range groups {
		files[i] = preparedFiles(srcs, models, g)
	}
	projects := make([]*types.Project, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i := range groups {
		wg.Go(func() {
			projects[i], errs[i] = loadCompose(ctx, name, dir, env, files[i], true)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return mergeProjects(projects), nil
}

// loadCompose runs compose-go's loading and conversion to a project.
// prepared files are interpolated already: compose-go's interpolation then
// neither substitutes nor casts, and deckhand resolves the relative paths.
func loadCompose(ctx context.Context, name, dir string, env map[string]string, files []types.ConfigFile, prepared bool) (*types.Project, error) {
	// compose-go writes COMPOSE_PROJECT_NAME into the environment map.
	details := types.ConfigDetails{WorkingDir: dir, Environment: maps.Clone(env), ConfigFiles: files}
	opts := []func(*loader.Options){
		func(lo *loader.Options) {
			lo.SetProjectName(loader.NormalizeProjectName(name), true)
			lo.Interpolate.Substitute = substitute
			if prepared {
				lo.Interpolate.Substitute = noSubstitution
				lo.Interpolate.TypeCastMapping = map[tree.Path]interpolation.Cast{}
				lo.ResolvePaths = false // resolvePaths below, on what can hold a path
			}
		},
	}
	model, err := loader.LoadModelWithContext(ctx, details, opts...)
	if err != nil {
		return nil, err
	}
	stripSwarmKeys(model)
	if prepared {
		if err := resolvePaths(model, dir); err != nil {
			return nil, err
		}
	}
	return loader.ModelToProject(model, loader.ToOptions(&details, opts), details)
}

// preparedFiles returns the models as compose-go config files, keeping only
// the services of group (all when group is nil) and copying everything else.
func preparedFiles(srcs []source, models []map[string]any, group map[string]bool) []types.ConfigFile {
	files := make([]types.ConfigFile, len(models))
	for i, m := range models {
		if group != nil {
			c := make(map[string]any, len(m))
			for k, v := range m {
				if k != "services" {
					c[k] = deepCopy(v)
					continue
				}
				all, _ := v.(map[string]any)
				svcs := map[string]any{}
				for name, s := range all {
					if group[name] {
						svcs[name] = s
					}
				}
				c[k] = svcs
			}
			m = c
		}
		files[i] = types.ConfigFile{Filename: srcs[i].path, Config: m}
	}
	return files
}

// deepCopy copies the mappings and sequences of a decoded model.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, e := range v {
			c[k] = deepCopy(e)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, e := range v {
			c[i] = deepCopy(e)
		}
		return c
	}
	return v
}

// mergeProjects merges projects loaded from disjoint groups of services.
func mergeProjects(projects []*types.Project) *types.Project {
	p := projects[0]
	for _, q := range projects[1:] {
		p.Services = addMissing(p.Services, q.Services)
		p.DisabledServices = addMissing(p.DisabledServices, q.DisabledServices)
		// a group's networks include "default" only when one of its services uses it
		p.Networks = addMissing(p.Networks, q.Networks)
		p.Volumes = addMissing(p.Volumes, q.Volumes)
		p.Secrets = addMissing(p.Secrets, q.Secrets)
		p.Configs = addMissing(p.Configs, q.Configs)
		p.Models = addMissing(p.Models, q.Models)
	}
	return p
}

func addMissing[M ~map[string]V, V any](to, from M) M {
	if len(from) == 0 {
		return to
	}
	if to == nil {
		to = M{}
	}
	for k, v := range from {
		if _, ok := to[k]; !ok {
			to[k] = v
		}
	}
	return to
}

// serviceGroups splits the services of the models into at most parts groups
// of similar size. Services that refer to each other (depends_on, links,
// volumes_from, network_mode: service:..., build contexts) stay together,
// so each group loads and checks on its own. It returns nil when the stack is
// too small to split or has jobs (which may depend on any service).
func serviceGroups(models []map[string]any, parts int) []map[string]bool {
	uf := unionFind{}
	names := map[string]bool{}
	for _, m := range models {
		if _, ok := m["jobs"]; ok {
			return nil
		}
		svcs, _ := m["services"].(map[string]any)
		for name, s := range svcs {
			names[name] = true
			svc, _ := s.(map[string]any)
			for _, ref := range serviceRefs(svc) {
				uf.union(name, ref)
			}
		}
	}
	parts = min(parts, len(names)/minServicesPerGroup)
	if parts < 2 {
		return nil
	}
	comps := map[string][]string{}
	for name := range names {
		r := uf.find(name)
		comps[r] = append(comps[r], name)
	}
	list := slices.Collect(maps.Values(comps))
	for _, c := range list {
		sort.Strings(c)
	}
	// largest first, then by name: each goes to the smallest group so far
	sort.Slice(list, func(i, j int) bool {
		if len(list[i]) != len(list[j]) {
			return len(list[i]) > len(list[j])
		}
		return list[i][0] < list[j][0]
	})
	groups := make([]map[string]bool, parts)
	for i := range groups {
		groups[i] = map[string]bool{}
	}
	for _, c := range list {
		g := 0
		for i := range groups {
			if len(groups[i]) < len(groups[g]) {
				g = i
			}
		}
		for _, name := range c {
			groups[g][name] = true
		}
	}
	if len(groups[parts-1]) == 0 {
		return nil // one component holds (nearly) everything
	}
	return groups
}

// serviceRefs lists the services a service's definition names.
func serviceRefs(svc map[string]any) []string {
	var refs []string
	switch d := svc["depends_on"].(type) {
	case map[string]any:
		for k := range d {
			refs = append(refs, k)
		}
	case []any:
		refs = append(refs, stringItems(d)...)
	}
	if l, ok := svc["links"].([]any); ok {
		for _, s := range stringItems(l) {
			name, _, _ := strings.Cut(s, ":")
			refs = append(refs, name)
		}
	}
	for _, ns := range []string{"network_mode", "ipc", "pid", "uts", "cgroup"} {
		if s, ok := svc[ns].(string); ok {
			if name, ok := strings.CutPrefix(s, types.ServicePrefix); ok {
				refs = append(refs, name)
			}
		}
	}
	if l, ok := svc["volumes_from"].([]any); ok {
		for _, s := range stringItems(l) {
			if strings.HasPrefix(s, types.ContainerPrefix) {
				continue
			}
			s = strings.TrimPrefix(s, types.ServicePrefix)
			name, _, _ := strings.Cut(s, ":")
			refs = append(refs, name)
		}
	}
	if b, ok := svc["build"].(map[string]any); ok {
		var ctxs []string
		switch a := b["additional_contexts"].(type) {
		case map[string]any:
			for _, v := range a {
				if s, ok := v.(string); ok {
					ctxs = append(ctxs, s)
				}
			}
		case []any:
			for _, s := range stringItems(a) {
				_, v, _ := strings.Cut(s, "=")
				ctxs = append(ctxs, v)
			}
		}
		for _, s := range ctxs {
			if name, ok := strings.CutPrefix(s, types.ServicePrefix); ok {
				refs = append(refs, name)
			}
		}
	}
	return refs
}

// stringItems returns the strings of a decoded sequence.
func stringItems(l []any) []string {
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// unionFind groups names into connected components.
type unionFind struct{ parent map[string]string }

func (u *unionFind) find(x string) string {
	if u.parent == nil {
		u.parent = map[string]string{}
	}
	p, ok := u.parent[x]
	if !ok {
		u.parent[x] = x
		return x
	}
	if p == x {
		return x
	}
	r := u.find(p)
	u.parent[x] = r
	return r
}

func (u *unionFind) union(a, b string) {
	ra, rb := u.find(a), u.find(b)
	if ra != rb {
		u.parent[rb] = ra
	}
}
