package deploy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// ImagesAPI is the engine API that reading a stack's images needs.
type ImagesAPI interface {
	record.ReadAPI
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
}

// ImagesFrom reads the images a stack runs, by service key (the name
// without the stack's prefix): revision rev's, or the live services' when
// rev is 0. Every image must be pinned to a digest.
func ImagesFrom(ctx context.Context, api ImagesAPI, stack string, rev int) (map[string]string, error) {
	byName := map[string]string{}
	if rev > 0 {
		revs, err := Revisions(ctx, api, stack)
		if err != nil {
			return nil, err
		}
		r, err := revision.Find(revs, stack, rev)
		if err != nil {
			return nil, err
		}
		if r.Partial {
			return nil, partialError(stack, rev)
		}
		byName = r.Images()
	} else {
		res, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+stack)})
		if err != nil {
			return nil, fmt.Errorf("list services of stack %q: %w", stack, err)
		}
		if len(res.Items) == 0 {
			return nil, fmt.Errorf("stack %q has no services to take images from; check the stack name and the target (docker stack ls)", stack)
		}
		for _, s := range res.Items {
			if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
				byName[s.Spec.Name] = cs.Image
			}
		}
	}
	out := map[string]string{}
	var unpinned []string
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		img := byName[name]
		ref, err := reference.ParseAnyReference(img)
		if _, digested := ref.(reference.Digested); err != nil || !digested {
			unpinned = append(unpinned, fmt.Sprintf("%s (%s)", name, img))
			continue
		}
		out[strings.TrimPrefix(name, stack+"_")] = img
	}
	if len(unpinned) > 0 {
		return nil, fmt.Errorf("stack %q runs images without a digest, which cannot be promoted exactly: %s; deploy it with --resolve-image always first", stack, strings.Join(unpinned, ", "))
	}
	return out, nil
}

// Promote wraps source so that every service of the loaded stack runs the
// image images has for its key: the digests that run where the images come
// from (named by from, for errors). A service with no image there is an
// error: what was not tested there is not promoted.
func Promote(source Source, images map[string]string, from string) Source {
	return func() (*compose.Stack, error) {
		st, err := source()
		if err != nil {
			return nil, err
		}
		var missing []string
		for _, key := range st.ServiceKeys() {
			img, ok := images[key]
			if !ok {
				missing = append(missing, key)
				continue
			}
			svc := st.Project.Services[key]
			svc.Image = img
			st.Project.Services[key] = svc
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("service(s) %s of stack %q do not run in %s, so there is no image to promote; deploy them there first, or deploy without --images-from", strings.Join(missing, ", "), st.Name, from)
		}
		return st, nil
	}
}

// partialError says a revision has no specs to use.
func partialError(stack string, n int) error {
	return fmt.Errorf("revision %d of stack %q was recorded without its specs (they did not fit in a record); use another revision", n, stack)
}
