package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// prepare is how a deploy prepares its plan: from the file, or for a
// rollback from the recorded revision.
func (o Options) prepare(ctx context.Context, api ReadAPI, namespace string, source Source) (*Prepared, error) {
	if o.Prepared != nil {
		return o.Prepared, nil
	}
	if o.restore != nil {
		return o.restore.prepare(ctx, api, namespace, o)
	}
	return PrepareFrom(ctx, api, namespace, source, o)
}

// prepare reads the revision and the live stack and plans the writes that
// restore the revision; every problem (a version or an image that is gone)
// is reported together, before any write.
func (rs *restore) prepare(ctx context.Context, api ReadAPI, namespace string, o Options) (*Prepared, error) {
	o.defaults()
	var (
		managers                           int
		quorumErr, liveErr, recErr, netErr error
		live                               *plan.Live
		recs                               []record.Record
		nets                               client.NetworkListResult
		wg                                 sync.WaitGroup
	)
	wg.Go(func() {
		if o.QuorumCheck != nil {
			quorumErr = o.QuorumCheck(ctx)
			return
		}
		managers, quorumErr = checkLeader(ctx, api, api, func(msg string) { fmt.Fprintf(o.Out, "warning: %s\n", msg) })
		if quorumErr != nil {
			if err := checkManager(ctx, api); err != nil {
				quorumErr = err
			}
		}
	})
	wg.Go(func() { live, liveErr = ReadLive(ctx, api, namespace) })
	wg.Go(func() { recs, recErr = record.List(ctx, api, namespace, record.KindRevision) })
	wg.Go(func() { nets, netErr = api.NetworkList(ctx, client.NetworkListOptions{}) })
	wg.Wait()
	if err := errors.Join(quorumErr, liveErr, recErr, netErr); err != nil {
		return nil, err
	}
	revs, err := revision.DecodeAll(recs)
	if err != nil {
		return nil, err
	}
	rev, err := revision.Find(revs, namespace, rs.number)
	if err != nil {
		return nil, err
	}
	if rev.Partial {
		return nil, partialError(namespace, rev.Number)
	}
	rs.rev = rev
	ids, problems, err := versionIDs(ctx, api, rev, live)
	if err != nil {
		return nil, err
	}
	if o.ResolveImage != plan.ResolveNever {
		problems = append(problems, checkImages(ctx, api, rev, o)...)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("revision %d of stack %q cannot be restored, nothing was written:\n  %w", rev.Number, namespace, indentJoin(problems))
	}
	d := &swarmspec.Desired{Namespace: namespace, Networks: rev.Networks, Configs: map[string]swarm.ConfigSpec{}, Secrets: map[string]swarm.SecretSpec{},
		Services: map[string]swarm.ServiceSpec{}}
	for name, spec := range rev.Services {
		d.Services[name] = withRefIDs(spec, ids)
	}
	netNames := map[string]string{}
	for _, n := range nets.Items {
		netNames[n.ID] = n.Name
	}
	// Pinned images stay as recorded: with ResolveAlways and no lookups,
	// plan keeps a digested reference as it is.
	pl, err := plan.Make(d, live, plan.Options{Prune: true, ResolveImage: plan.ResolveAlways, NetworkNames: netNames})
	if err != nil {
		return nil, err
	}
	var changes []plan.Change
	for _, c := range pl.Changes {
		if c.Action != plan.ActionRemove || c.Kind == plan.KindService {
			changes = append(changes, c)
		}
	}
	pl.Changes = changes
	return &Prepared{Plan: pl, Desired: d, Managers: managers, Live: live, NetworkNames: netNames}, nil
}

// versionIDs finds the config and secret versions the revision uses by
// name: among the stack's own, then (for external ones) in the whole swarm.
func versionIDs(ctx context.Context, api ReadAPI, rev *revision.Revision, live *plan.Live) (swarmspec.ObjectIDs, []error, error) {
	ids := swarmspec.ObjectIDs{Configs: map[string]string{}, Secrets: map[string]string{}}
	for _, c := range live.Configs {
		ids.Configs[c.Spec.Name] = c.ID
	}
	for _, s := range live.Secrets {
		ids.Secrets[s.Spec.Name] = s.ID
	}
	kinds := []struct {
		kind  plan.Kind
		names []string
		ids   map[string]string
		list  func(client.Filters) error // adds what it finds to ids
	}{
		{plan.KindConfig, rev.Configs, ids.Configs, func(f client.Filters) error {
			res, err := api.ConfigList(ctx, client.ConfigListOptions{Filters: f})
			for _, c := range res.Items {
				ids.Configs[c.Spec.Name] = c.ID
			}
			return err
		}},
		{plan.KindSecret, rev.Secrets, ids.Secrets, func(f client.Filters) error {
			res, err := api.SecretList(ctx, client.SecretListOptions{Filters: f})
			for _, s := range res.Items {
				ids.Secrets[s.Spec.Name] = s.ID
			}
			return err
		}},
	}
	var problems []error
	for _, k := range kinds {
		missing := func() []string {
			var out []string
			for _, n := range k.names {
				if _, ok := k.ids[n]; !ok {
					out = append(out, n)
				}
			}
			return out
		}
		if m := missing(); len(m) > 0 {
			if err := k.list(make(client.Filters).Add("name", m...)); err != nil {
				return ids, nil, fmt.Errorf("look up the %ss of revision %d: %w", k.kind, rev.Number, err)
			}
		}
		for _, n := range missing() {
			problems = append(problems, fmt.Errorf("%s %q that revision %d uses no longer exists (removed outside deckhand?); deploy that revision's files instead", k.kind, n, rev.Number))
		}
	}
	return ids, problems, nil
}

// withRefIDs returns spec with its config and secret references pointing
// at the IDs of their versions.
func withRefIDs(spec swarm.ServiceSpec, ids swarmspec.ObjectIDs) swarm.ServiceSpec {
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return spec
	}
	c := *cs
	c.Configs = slices.Clone(cs.Configs)
	for i, r := range c.Configs {
		rc := *r
		rc.ConfigID = ids.Configs[r.ConfigName]
		c.Configs[i] = &rc
	}
	c.Secrets = slices.Clone(cs.Secrets)
	for i, r := range c.Secrets {
		rc := *r
		rc.SecretID = ids.Secrets[r.SecretName]
		c.Secrets[i] = &rc
	}
	spec.TaskTemplate.ContainerSpec = &c
	return spec
}

// checkImages asks the registry for every pinned image of the revision, so
// that one deleted since is found before any write.
func checkImages(ctx context.Context, api ReadAPI, rev *revision.Revision, o Options) []error {
	users := map[string][]string{}
	for name, img := range rev.Images() {
		users[img] = append(users[img], name)
	}
	var problems []error
	live := &plan.Live{}
	o.ResolveImage = plan.ResolveAlways
	resolveImages(ctx, newImageResolver(api, o), users, live, o, &problems)
	return problems
}
