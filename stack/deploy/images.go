package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/deckhand/deckhand/stack/plan"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// imageResolver looks each image up in the registry at most once per run,
// with at most Parallel lookups at a time; a lookup can start early (a
// prefetch) and be waited for later.
type imageResolver struct {
	api   ReadAPI
	auth  func(string) (string, error)
	tm    *Timings
	sem   chan struct{}
	mu    sync.Mutex
	calls map[string]*resolveCall
}

type resolveCall struct {
	done chan struct{}
	r    plan.ResolvedImage
	err  error
}

func newImageResolver(api ReadAPI, o Options) *imageResolver {
	return &imageResolver{api: api, auth: o.Auth, tm: o.Timings, sem: make(chan struct{}, max(o.Parallel, 1)), calls: map[string]*resolveCall{}}
}

// start begins looking image up unless that is already under way.
func (ir *imageResolver) start(ctx context.Context, image string) *resolveCall {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	if c, ok := ir.calls[image]; ok {
		return c
	}
	c := &resolveCall{done: make(chan struct{})}
	ir.calls[image] = c
	go func() {
		defer close(c.done)
		ir.sem <- struct{}{}
		defer func() { <-ir.sem }()
		defer ir.tm.Begin("registry " + image)()
		c.r, c.err = resolveImage(ctx, ir.api, image, ir.auth)
	}()
	return c
}

// resolveImages asks the registry for the digest of each distinct image
// (image → the services using it) that needs resolving, once per image, in
// parallel. live is needed only to resolve changed images alone.
func resolveImages(ctx context.Context, ir *imageResolver, images map[string][]string, live *plan.Live, o Options, problems *[]error) map[string]plan.ResolvedImage {
	liveLabel := map[string]string{}
	if live != nil {
		for _, s := range live.Services {
			liveLabel[s.Spec.Name] = s.Spec.Labels[convert.LabelImage]
		}
	}
	users := map[string][]string{}
	for image, services := range images {
		for _, name := range services {
			switch o.ResolveImage {
			case plan.ResolveNever:
				continue
			case plan.ResolveChanged:
				if l, ok := liveLabel[name]; ok && l == image {
					continue
				}
			}
			users[image] = append(users[image], name)
		}
	}
	calls := map[string]*resolveCall{}
	for _, image := range slices.Sorted(maps.Keys(users)) {
		calls[image] = ir.start(ctx, image)
	}
	out := map[string]plan.ResolvedImage{}
	for _, image := range slices.Sorted(maps.Keys(calls)) {
		c := calls[image]
		<-c.done
		if c.err != nil {
			svcs := slices.Sorted(slices.Values(users[image]))
			*problems = append(*problems, fmt.Errorf("image %q (service %s) cannot be resolved: %w; check that it was pushed, the name and tag, and your registry login (docker login)", image, strings.Join(svcs, ", "), c.err))
			continue
		}
		out[image] = c.r
	}
	return out
}

func resolveImage(ctx context.Context, api ReadAPI, image string, auth func(string) (string, error)) (plan.ResolvedImage, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return plan.ResolvedImage{}, err
	}
	if _, digested := named.(reference.Digested); !digested {
		named = reference.TagNameOnly(named)
	}
	ref := reference.FamiliarString(named)
	encoded := ""
	if auth != nil {
		if encoded, err = auth(image); err != nil {
			return plan.ResolvedImage{}, err
		}
	}
	res, err := api.DistributionInspect(ctx, ref, client.DistributionInspectOptions{EncodedRegistryAuth: encoded})
	if err != nil {
		return plan.ResolvedImage{}, err
	}
	out := plan.ResolvedImage{Ref: ref}
	if _, digested := named.(reference.Digested); !digested {
		if pinned, err := reference.WithDigest(named, res.Descriptor.Digest); err == nil {
			out.Ref = reference.FamiliarString(pinned)
		}
	}
	seen := map[swarm.Platform]bool{}
	for _, p := range res.Platforms {
		if p.OS == "unknown" || p.Architecture == "unknown" {
			continue // attestation manifests
		}
		pl := swarm.Platform{OS: p.OS, Architecture: p.Architecture}
		if strings.EqualFold(pl.Architecture, "arm") {
			pl.Architecture = "" // nodes report armv7l etc.; swarm would never match
		}
		if !seen[pl] {
			seen[pl] = true
			out.Platforms = append(out.Platforms, pl)
		}
	}
	return out, nil
}
