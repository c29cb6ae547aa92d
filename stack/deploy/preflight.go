package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/deckhand/deckhand/quorum"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/swarmspec"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Prepare runs every preflight check and computes the plan, without writing.
// All preflight problems are reported together in one error.
func Prepare(ctx context.Context, api ReadAPI, st *compose.Stack, o Options) (*Prepared, error) {
	return PrepareFrom(ctx, api, st.Name, func() (*compose.Stack, error) { return st, nil }, o)
}

// Source produces the stack to deploy (loading it).
type Source func() (*compose.Stack, error)

// PrepareFrom is Prepare for a stack that is still to be loaded: the engine
// reads, which do not depend on the file, run while source loads it, and the
// registry lookups run while it is converted.
func PrepareFrom(ctx context.Context, api ReadAPI, namespace string, source Source, o Options) (*Prepared, error) {
	o.defaults()
	log := o.Logger.With("component", "deploy", "stack", namespace)
	managers := 0
	var nodes listedNodes
	quorum := o.QuorumCheck
	if quorum == nil {
		quorum = func(ctx context.Context) error {
			var err error
			managers, err = checkLeader(ctx, api, nodes, func(msg string) { fmt.Fprintf(o.Out, "warning: %s\n", msg) })
			return err
		}
	}
	// The checks are independent reads: run them together.
	var (
		managerErr, quorumErr, liveErr, extErr error
		kept                                   keptVersions
		keptErr                                error
		live                                   *plan.Live
		ids                                    = swarmspec.ObjectIDs{Configs: map[string]string{}, Secrets: map[string]string{}}
		externalIDs                            = map[string]string{}
		extProblems, imageProblems             []error
		images                                 map[string]plan.ResolvedImage
		wg                                     sync.WaitGroup
	)
	tm := o.Timings
	wg.Go(func() {
		defer tm.Begin("nodes and quorum")()
		// One list of the nodes serves the quorum check and the placement
		// check. It succeeds only on a manager of a swarm with a leader;
		// when it fails, Info (which works on every engine version) tells
		// whether the engine is a manager at all.
		nodes.res, nodes.err = api.NodeList(ctx, client.NodeListOptions{})
		if quorumErr = quorum(ctx); quorumErr != nil {
			managerErr = checkManager(ctx, api)
		}
	})
	wg.Go(func() { kept, keptErr = readKept(ctx, api, namespace, o) })
	liveRead := make(chan struct{})
	wg.Go(func() {
		defer close(liveRead)
		defer tm.Begin("live read")()
		live, liveErr = ReadLive(ctx, api, namespace)
	})
	resolver := newImageResolver(api, o)
	if o.ResolveImage == plan.ResolveAlways {
		// Likely images are looked up while the stack loads; a lookup
		// counts only for an image the loaded stack really uses.
		for _, image := range o.PrefetchImages {
			resolver.start(ctx, image)
		}
	}
	st, err := source() // the caller times the load: it may have started it before
	if err != nil {
		wg.Wait()
		return nil, err
	}
	// Registry lookups need only the loaded stack's images (and, to look up
	// only changed images, the live stack): they run while it is converted.
	wg.Go(func() {
		var l *plan.Live
		if o.ResolveImage == plan.ResolveChanged {
			if <-liveRead; liveErr != nil {
				return
			}
			l = live
		}
		images = resolveImages(ctx, resolver, st.Images(), l, o, &imageProblems)
	})
	// Conversion needs no engine (config/secret IDs are filled in below).
	endConvert := tm.Begin("convert")
	d, err := swarmspec.Convert(ctx, st, swarmspec.ObjectIDs{})
	endConvert()
	if err != nil {
		wg.Wait()
		return nil, err
	}
	wg.Go(func() {
		defer tm.Begin("external objects")()
		// External objects live outside the stack: look them up by name.
		if extErr = lookupExternal(ctx, api, d, ids, &extProblems); extErr != nil {
			return
		}
		for _, n := range d.ExternalNetworks {
			id, err := checkExternalNetwork(ctx, api, n)
			if err != nil {
				extProblems = append(extProblems, err)
				continue
			}
			externalIDs[id] = n
		}
	})
	wg.Wait()
	for _, err := range []error{managerErr, quorumErr, liveErr, extErr, keptErr} {
		if err != nil {
			return nil, err
		}
	}
	if problems := append(extProblems, imageProblems...); len(problems) > 0 {
		log.Warn("preflight failed", "problems", len(problems))
		return nil, fmt.Errorf("preflight found %d problem(s), nothing was written:\n  %w", len(problems), indentJoin(problems))
	}
	for _, c := range live.Configs {
		ids.Configs[c.Spec.Name] = c.ID
	}
	for _, s := range live.Secrets {
		ids.Secrets[s.Spec.Name] = s.ID
	}
	for name, spec := range d.Services {
		d.Services[name] = swarmspec.FillIDs(spec, ids)
	}
	netNames := map[string]string{}
	for _, n := range live.Networks {
		netNames[n.ID] = n.Name
	}
	maps.Copy(netNames, externalIDs)
	endPlan := tm.Begin("plan")
	defer endPlan()
	pl, err := plan.Make(d, live, plan.Options{Prune: o.Prune, KeepVersions: o.KeepVersions, ResolveImage: o.ResolveImage, Images: images, NetworkNames: netNames,
		KeepConfigs: kept.configs, KeepSecrets: kept.secrets})
	if err != nil {
		return nil, err
	}
	prep := &Prepared{Plan: pl, Desired: d, Images: images, Managers: managers, Stack: st, Live: live, NetworkNames: netNames}
	if nodes.err == nil && pl.HasChanges() {
		changed := map[string]swarm.ServiceSpec{}
		for _, c := range pl.Changes {
			if c.Service != nil && (c.Action == plan.ActionCreate || c.Action == plan.ActionUpdate) {
				changed[c.Name] = *c.Service
			}
		}
		prep.Warnings = placementWarnings(changed, nodes.res.Items)
		for _, w := range prep.Warnings {
			fmt.Fprintf(o.Out, "warning: %s\n", w)
		}
	}
	return prep, nil
}

// indentJoin joins errors one per indented line, keeping them for errors.Is.
func indentJoin(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	slices.Sort(msgs)
	return &joined{msg: strings.Join(msgs, "\n  "), errs: errs}
}

type joined struct {
	msg  string
	errs []error
}

func (j *joined) Error() string   { return j.msg }
func (j *joined) Unwrap() []error { return j.errs }

// ReadLive lists the stack's services, networks, configs and secrets.
func ReadLive(ctx context.Context, api ReadAPI, namespace string) (*plan.Live, error) {
	f := func() client.Filters {
		return make(client.Filters).Add("label", swarmspec.LabelNamespace+"="+namespace)
	}
	var (
		live plan.Live
		errs [4]error
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		r, err := api.ServiceList(ctx, client.ServiceListOptions{Filters: f()})
		live.Services, errs[0] = r.Items, err
	})
	wg.Go(func() {
		r, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: f()})
		live.Networks, errs[1] = r.Items, err
	})
	wg.Go(func() {
		r, err := api.ConfigList(ctx, client.ConfigListOptions{Filters: f()})
		live.Configs, errs[2] = r.Items, err
	})
	wg.Go(func() {
		r, err := api.SecretList(ctx, client.SecretListOptions{Filters: f()})
		live.Secrets, errs[3] = r.Items, err
	})
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("read stack %q from the swarm: %w", namespace, err)
	}
	return &live, nil
}

// checkManager fails unless the engine is an active swarm manager. Info
// works on every engine version (Ping has no swarm status on 20.10).
func checkManager(ctx context.Context, api ReadAPI) error {
	info, err := api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("ask the engine for its swarm state: %w; check DOCKER_HOST points at a running engine", err)
	}
	sw := info.Info.Swarm
	if sw.LocalNodeState != swarm.LocalNodeStateActive {
		return fmt.Errorf("the engine is not part of an active swarm (state %q); run docker swarm init, or point DOCKER_HOST at a swarm manager", sw.LocalNodeState)
	}
	if !sw.ControlAvailable {
		return errors.New("the engine is a swarm worker, not a manager; point DOCKER_HOST at a manager node")
	}
	return nil
}

// checkLeader fails when the swarm has lost quorum (quorum.Check over the
// listed nodes), naming the managers that are down, and returns how many
// managers the swarm has. When the engine has no leader it cannot list the
// nodes, so the managers it knows of are probed on their swarm address. A
// swarm of several managers of which none more can fail is warned about; a
// one-manager swarm is a choice, not news.
func checkLeader(ctx context.Context, api ReadAPI, nodes quorum.NodeLister, warn func(string)) (int, error) {
	st, err := quorum.Check(ctx, nodes)
	if err == nil {
		if st.FailuresLeft == 0 && len(st.Managers) > 1 {
			warn(fmt.Sprintf("the swarm has %d of %d managers up and no manager can fail without losing quorum: deploying anyway; add managers or bring the down ones back", st.Up, len(st.Managers)))
		}
		return len(st.Managers), nil
	}
	if !errors.Is(err, quorum.ErrNoQuorum) {
		return 0, err
	}
	var down []string
	for _, m := range st.Managers {
		if !m.Up() {
			down = append(down, fmt.Sprintf("%s (%s)", m.Hostname, m.Addr))
		}
	}
	if len(st.Managers) == 0 {
		down = probeManagers(ctx, api)
	}
	slices.Sort(down)
	names := "none answered a probe from here either; check the managers' logs"
	if len(down) > 0 {
		names = strings.Join(down, ", ")
	}
	return len(st.Managers), fmt.Errorf("%w; unreachable managers: %s; nothing was written", err, names)
}

// probeManagers dials the swarm port of every manager the engine knows of
// and returns those that do not answer.
func probeManagers(ctx context.Context, api ReadAPI) []string {
	info, err := api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil
	}
	var down []string
	for _, p := range info.Info.Swarm.RemoteManagers {
		if p.NodeID == info.Info.Swarm.NodeID {
			continue
		}
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", p.Addr)
		if err != nil {
			down = append(down, fmt.Sprintf("%s (%s)", shortID(p.NodeID), p.Addr))
			continue
		}
		_ = conn.Close()
	}
	return down
}

func lookupExternal(ctx context.Context, api ReadAPI, d *swarmspec.Desired, ids swarmspec.ObjectIDs, problems *[]error) error {
	if len(d.ExternalConfigs) > 0 {
		f := make(client.Filters).Add("name", d.ExternalConfigs...)
		res, err := api.ConfigList(ctx, client.ConfigListOptions{Filters: f})
		if err != nil {
			return fmt.Errorf("look up external configs: %w", err)
		}
		for _, c := range res.Items {
			ids.Configs[c.Spec.Name] = c.ID
		}
		for _, n := range d.ExternalConfigs {
			if _, ok := ids.Configs[n]; !ok {
				*problems = append(*problems, fmt.Errorf("config %q is declared as external, but could not be found; create it with docker config create %s FILE", n, n))
			}
		}
	}
	if len(d.ExternalSecrets) > 0 {
		f := make(client.Filters).Add("name", d.ExternalSecrets...)
		res, err := api.SecretList(ctx, client.SecretListOptions{Filters: f})
		if err != nil {
			return fmt.Errorf("look up external secrets: %w", err)
		}
		for _, s := range res.Items {
			ids.Secrets[s.Spec.Name] = s.ID
		}
		for _, n := range d.ExternalSecrets {
			if _, ok := ids.Secrets[n]; !ok {
				*problems = append(*problems, fmt.Errorf("secret %q is declared as external, but could not be found; create it with docker secret create %s FILE", n, n))
			}
		}
	}
	return nil
}

func checkExternalNetwork(ctx context.Context, api ReadAPI, name string) (string, error) {
	switch name {
	case "host", "bridge", "none", "default":
		return name, nil // exist on every node
	}
	res, err := api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	switch {
	case errdefs.IsNotFound(err):
		return "", fmt.Errorf("network %q is declared as external, but could not be found; create it with docker network create --driver overlay --attachable %s", name, name)
	case err != nil:
		return "", fmt.Errorf("inspect external network %q: %w", name, err)
	case res.Network.Scope != "swarm":
		return "", fmt.Errorf("network %q is declared as external, but its scope is %q instead of \"swarm\"; use an overlay network", name, res.Network.Scope)
	}
	return res.Network.ID, nil
}

// CheckSwarm runs preflight's checks of the swarm itself (the engine is a
// manager, the swarm has a leader) and returns the problem as a deploy
// reports it, naming the managers that are down; nil when the swarm can
// take writes. The command layer asks it to explain a failed write that
// comes before preflight, such as taking the stack's lock.
func CheckSwarm(ctx context.Context, api ReadAPI) error {
	if _, err := checkLeader(ctx, api, api, func(string) {}); err != nil {
		if merr := checkManager(ctx, api); merr != nil {
			return merr
		}
		return err
	}
	return nil
}
