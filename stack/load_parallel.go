package stack

import (
	"bytes"
	"context"
	"maps"
	"runtime"
	"sort"
	"sync"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// minServicesPerChunk is the smallest group of services worth a goroutine of
// its own: compose-go's per-file set-up costs about as much as this many
// services do.
const minServicesPerChunk = 32

// loadParallelism is how many groups a large stack loads in; tests change it.
var loadParallelism = runtime.GOMAXPROCS(0)

// loadModel runs compose-go's model loading. Services are independent of each
// other once include, extends and in-service anchors are ruled out, so a large
// stack is split into groups of services that load in parallel (compose-go
// spends its time matching every node against its path tables) and the models
// are merged; the merged model is what a single load returns.
func loadModel(ctx context.Context, details types.ConfigDetails, srcs []source, opts []func(*loader.Options)) (map[string]any, error) {
	groups := splitServices(srcs, loadParallelism)
	if len(groups) < 2 {
		return loader.LoadModelWithContext(ctx, details, opts...)
	}
	models := make([]map[string]any, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, files := range groups {
		wg.Go(func() {
			d := details
			// compose-go writes COMPOSE_PROJECT_NAME into the environment map.
			d.Environment = maps.Clone(details.Environment)
			d.ConfigFiles = make([]types.ConfigFile, len(files))
			for j, f := range files {
				d.ConfigFiles[j] = types.ConfigFile{Filename: srcs[j].path, Content: f}
			}
			models[i], errs[i] = loader.LoadModelWithContext(ctx, d, opts...)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	merged := models[0]
	for _, m := range models[1:] {
		for _, kind := range []string{"services", "networks", "volumes", "configs", "secrets"} {
			from, _ := m[kind].(map[string]any)
			if len(from) == 0 {
				continue
			}
			to, _ := merged[kind].(map[string]any)
			if to == nil {
				to = map[string]any{}
				merged[kind] = to
			}
			for k, v := range from {
				if _, ok := to[k]; !ok {
					to[k] = v
				}
			}
		}
	}
	return merged, nil
}

// splitServices returns, for each group of services, the compose files with
// only that group's services (everything else kept), or nil when the stack is
// too small to split or cannot be split safely: an include, an extends, or an
// anchor defined inside a service (another service may use it).
func splitServices(srcs []source, parts int) [][][]byte {
	if parts < 2 {
		return nil
	}
	names := map[string]bool{}
	for _, s := range srcs {
		top := documentMapping(s.root)
		if top == nil || mappingValue(top, "include") != nil {
			return nil
		}
		svcs := mappingValue(top, "services")
		if svcs == nil {
			continue
		}
		if svcs.Kind != yaml.MappingNode || hasAnchor(svcs) {
			return nil
		}
		for i := 0; i+1 < len(svcs.Content); i += 2 {
			if mappingValue(svcs.Content[i+1], "extends") != nil {
				return nil
			}
			names[svcs.Content[i].Value] = true
		}
	}
	parts = min(parts, len(names)/minServicesPerChunk)
	if parts < 2 {
		return nil
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	group := map[string]int{}
	for i, n := range sorted {
		group[n] = i * parts / len(sorted)
	}
	out := make([][][]byte, parts)
	for g := range parts {
		out[g] = make([][]byte, len(srcs))
		for j, s := range srcs {
			data, err := filteredDocument(s.root, func(name string) bool { return group[name] == g })
			if err != nil {
				return nil
			}
			out[g][j] = data
		}
	}
	return out
}

// filteredDocument encodes a copy of a compose document whose services
// mapping keeps only the services keep accepts.
func filteredDocument(root *yaml.Node, keep func(string) bool) ([]byte, error) {
	top := documentMapping(root)
	newTop := *top
	newTop.Content = make([]*yaml.Node, len(top.Content))
	copy(newTop.Content, top.Content)
	for i := 0; i+1 < len(newTop.Content); i += 2 {
		if newTop.Content[i].Value != "services" {
			continue
		}
		svcs := *newTop.Content[i+1]
		svcs.Content = nil
		for j := 0; j+1 < len(top.Content[i+1].Content); j += 2 {
			k, v := top.Content[i+1].Content[j], top.Content[i+1].Content[j+1]
			if keep(k.Value) {
				svcs.Content = append(svcs.Content, k, v)
			}
		}
		newTop.Content[i+1] = &svcs
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&newTop); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// hasAnchor reports whether any node below n defines an anchor.
func hasAnchor(n *yaml.Node) bool {
	if n.Anchor != "" {
		return true
	}
	for _, c := range n.Content {
		if hasAnchor(c) {
			return true
		}
	}
	return false
}
