package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/quorum"
)

// ReadAPI is the part of the engine API that planning reads.
type ReadAPI interface {
	Info(ctx context.Context, o client.InfoOptions) (client.SystemInfoResult, error)
	NodeList(ctx context.Context, o client.NodeListOptions) (client.NodeListResult, error)
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
	NetworkList(ctx context.Context, o client.NetworkListOptions) (client.NetworkListResult, error)
	NetworkInspect(ctx context.Context, id string, o client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	ConfigList(ctx context.Context, o client.ConfigListOptions) (client.ConfigListResult, error)
	SecretList(ctx context.Context, o client.SecretListOptions) (client.SecretListResult, error)
	DistributionInspect(ctx context.Context, image string, o client.DistributionInspectOptions) (client.DistributionInspectResult, error)
}

// DeployAPI is everything a deploy needs from the engine; *client.Client has it.
type DeployAPI interface {
	ReadAPI
	WriteAPI
	WaitAPI
}

// DeployOptions are the knobs of plan and deploy.
type DeployOptions struct {
	Prune            bool
	WithRegistryAuth bool   // send registry credentials to the swarm with each service
	ResolveImage     string // always, changed or never
	Parallel         int
	KeepVersions     int
	Wait             bool
	Timeout          time.Duration
	Atomic           bool
	// Auth returns encoded registry credentials for an image; used to resolve
	// digests and, with WithRegistryAuth, sent with service writes.
	Auth func(image string) (string, error)
	// PrefetchImages are images the stack probably uses (read from the raw
	// files); with ResolveImage always they are looked up while it loads.
	PrefetchImages []string
	// QuorumCheck checks that the swarm has a leader; nil uses the node list.
	QuorumCheck  func(ctx context.Context) error
	Out          io.Writer // human progress
	Logger       *slog.Logger
	WaitInterval time.Duration
	Settle       time.Duration
}

func (o *DeployOptions) defaults() {
	if o.ResolveImage == "" {
		o.ResolveImage = ResolveAlways
	}
	if o.Parallel < 1 {
		o.Parallel = 8
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
}

// ServiceResult is what a deploy did to one service.
type ServiceResult struct {
	Service  string  `json:"service"`
	Action   string  `json:"action"` // create, update, remove, unchanged
	Image    string  `json:"image,omitempty"`
	Outcome  string  `json:"outcome"`
	Message  string  `json:"message,omitempty"`
	Duration float64 `json:"duration_seconds"`
}

// Result is the machine-readable outcome of a deploy.
type Result struct {
	Stack    string          `json:"stack"`
	Outcome  string          `json:"outcome"` // converged, failed, not converged, no changes, applied
	Changes  []Change        `json:"changes"`
	Services []ServiceResult `json:"services"`
	Undone   []string        `json:"atomic_undo,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// Deploy outcomes.
const (
	DeployConverged    = "converged"
	DeployNoChanges    = "no changes"
	DeployApplied      = "applied" // --detach: written, not waited for
	DeployFailed       = "failed"
	DeployNotConverged = "not converged"
)

// Prepared is a checked plan plus what it was made from.
type Prepared struct {
	Plan    *Plan
	Desired *Desired
	Images  map[string]ResolvedImage
}

// Prepare runs every preflight check and computes the plan, without writing.
// All preflight problems are reported together in one error.
func Prepare(ctx context.Context, api ReadAPI, in ConvertInput, o DeployOptions) (*Prepared, error) {
	return PrepareFrom(ctx, api, in.Namespace, func() (ConvertInput, error) { return in, nil }, o)
}

// Source produces the stack to deploy (loading and rendering it).
type Source func() (ConvertInput, error)

// PrepareFrom is Prepare for a stack that is still to be loaded: the engine
// reads, which do not depend on the file, run while source loads it, and the
// registry lookups run while it is converted.
func PrepareFrom(ctx context.Context, api ReadAPI, namespace string, source Source, o DeployOptions) (*Prepared, error) {
	o.defaults()
	log := o.Logger.With("component", "deploy", "stack", namespace)
	quorum := o.QuorumCheck
	if quorum == nil {
		quorum = func(ctx context.Context) error {
			return checkLeader(ctx, api, func(msg string) { fmt.Fprintf(o.Out, "warning: %s\n", msg) })
		}
	}
	// The checks are independent reads: run them together.
	var (
		managerErr, quorumErr, liveErr, extErr error
		live                                   *Live
		ids                                    = ObjectIDs{Configs: map[string]string{}, Secrets: map[string]string{}}
		externalIDs                            = map[string]string{}
		extProblems, imageProblems             []error
		images                                 map[string]ResolvedImage
		wg                                     sync.WaitGroup
	)
	wg.Go(func() {
		// Listing the nodes succeeds only on a manager of a swarm with a
		// leader; when it fails, Info (which works on every engine version)
		// tells whether the engine is a manager at all.
		if quorumErr = quorum(ctx); quorumErr != nil {
			managerErr = checkManager(ctx, api)
		}
	})
	liveRead := make(chan struct{})
	wg.Go(func() {
		defer close(liveRead)
		live, liveErr = ReadLive(ctx, api, namespace)
	})
	resolver := newImageResolver(api, o)
	if o.ResolveImage == ResolveAlways {
		// Likely images are looked up while the stack loads; a lookup
		// counts only for an image the loaded stack really uses.
		for _, image := range o.PrefetchImages {
			resolver.start(ctx, image)
		}
	}
	in, err := source()
	if err != nil {
		wg.Wait()
		return nil, err
	}
	resolve := func(d *Desired) {
		users := in.Images
		if users == nil {
			users = imageUsers(d)
		}
		<-liveRead
		if liveErr == nil {
			images = resolveImages(ctx, resolver, users, live, o, &imageProblems)
		}
	}
	if in.Images != nil {
		wg.Go(func() { resolve(nil) })
	}
	// Conversion needs no engine (config/secret IDs are filled in below).
	d, err := Convert(ctx, in, ObjectIDs{})
	if err != nil {
		wg.Wait()
		return nil, err
	}
	if in.Images == nil {
		wg.Go(func() { resolve(d) })
	}
	wg.Go(func() {
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
	for _, err := range []error{managerErr, quorumErr, liveErr, extErr} {
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
		d.Services[name] = fillIDs(spec, ids)
	}
	netNames := map[string]string{}
	for _, n := range live.Networks {
		netNames[n.ID] = n.Name
	}
	maps.Copy(netNames, externalIDs)
	plan, err := MakePlan(d, live, PlanOptions{Prune: o.Prune, KeepVersions: o.KeepVersions, ResolveImage: o.ResolveImage, Images: images, NetworkNames: netNames})
	if err != nil {
		return nil, err
	}
	return &Prepared{Plan: plan, Desired: d, Images: images}, nil
}

// imageUsers maps each image of the desired services to the services using it.
func imageUsers(d *Desired) map[string][]string {
	out := map[string][]string{}
	for name, spec := range d.Services {
		image := spec.TaskTemplate.ContainerSpec.Image
		out[image] = append(out[image], name)
	}
	return out
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
func ReadLive(ctx context.Context, api ReadAPI, namespace string) (*Live, error) {
	f := func() client.Filters { return make(client.Filters).Add("label", LabelNamespace+"="+namespace) }
	var (
		live Live
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

// checkLeader fails when the swarm has lost quorum (quorum.Check), naming the
// managers that are down. When the engine has no leader it cannot list the
// nodes, so the managers it knows of are probed on their swarm address.
func checkLeader(ctx context.Context, api ReadAPI, warn func(string)) error {
	st, err := quorum.Check(ctx, api)
	if err == nil {
		if st.FailuresLeft == 0 {
			warn(fmt.Sprintf("the swarm has %d of %d managers up and no manager can fail without losing quorum: deploying anyway; add managers or bring the down ones back", st.Up, len(st.Managers)))
		}
		return nil
	}
	if !errors.Is(err, quorum.ErrNoQuorum) {
		return err
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
	return fmt.Errorf("%w; unreachable managers: %s; nothing was written", err, names)
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

func lookupExternal(ctx context.Context, api ReadAPI, d *Desired, ids ObjectIDs, problems *[]error) error {
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

// imageResolver looks each image up in the registry at most once per run,
// with at most Parallel lookups at a time; a lookup can start early (a
// prefetch) and be waited for later.
type imageResolver struct {
	api   ReadAPI
	auth  func(string) (string, error)
	sem   chan struct{}
	mu    sync.Mutex
	calls map[string]*resolveCall
}

type resolveCall struct {
	done chan struct{}
	r    ResolvedImage
	err  error
}

func newImageResolver(api ReadAPI, o DeployOptions) *imageResolver {
	return &imageResolver{api: api, auth: o.Auth, sem: make(chan struct{}, max(o.Parallel, 1)), calls: map[string]*resolveCall{}}
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
		c.r, c.err = resolveImage(ctx, ir.api, image, ir.auth)
	}()
	return c
}

// resolveImages asks the registry for the digest of each distinct image
// (image → the services using it) that needs resolving, once per image, in
// parallel.
func resolveImages(ctx context.Context, ir *imageResolver, images map[string][]string, live *Live, o DeployOptions, problems *[]error) map[string]ResolvedImage {
	liveLabel := map[string]string{}
	for _, s := range live.Services {
		liveLabel[s.Spec.Name] = s.Spec.Labels[convert.LabelImage]
	}
	users := map[string][]string{}
	for image, services := range images {
		for _, name := range services {
			switch o.ResolveImage {
			case ResolveNever:
				continue
			case ResolveChanged:
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
	out := map[string]ResolvedImage{}
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

func resolveImage(ctx context.Context, api ReadAPI, image string, auth func(string) (string, error)) (ResolvedImage, error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ResolvedImage{}, err
	}
	if _, digested := named.(reference.Digested); !digested {
		named = reference.TagNameOnly(named)
	}
	ref := reference.FamiliarString(named)
	encoded := ""
	if auth != nil {
		if encoded, err = auth(image); err != nil {
			return ResolvedImage{}, err
		}
	}
	res, err := api.DistributionInspect(ctx, ref, client.DistributionInspectOptions{EncodedRegistryAuth: encoded})
	if err != nil {
		return ResolvedImage{}, err
	}
	out := ResolvedImage{Ref: ref}
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

// Deploy prepares, applies and (with Wait) waits for a stack. With Atomic,
// any failure undoes every write of this run. The error carries the exit
// code: 1 before or while applying, 3 when services failed to converge.
func Deploy(ctx context.Context, api DeployAPI, in ConvertInput, o DeployOptions) (*Result, error) {
	return DeployFrom(ctx, api, in.Namespace, func() (ConvertInput, error) { return in, nil }, o)
}

// DeployFrom is Deploy for a stack that is still to be loaded (see PrepareFrom).
func DeployFrom(ctx context.Context, api DeployAPI, namespace string, source Source, o DeployOptions) (*Result, error) {
	o.defaults()
	log := o.Logger.With("component", "deploy", "stack", namespace)
	res := &Result{Stack: namespace, Changes: []Change{}, Services: []ServiceResult{}}
	in := ConvertInput{Namespace: namespace}
	prep, err := PrepareFrom(ctx, api, namespace, source, o)
	if err != nil {
		res.Outcome, res.Error = DeployFailed, err.Error()
		return res, exit.With(exit.Failure, err)
	}
	plan := prep.Plan
	res.Changes = plan.Changes
	for _, name := range plan.Unchanged {
		res.Services = append(res.Services, ServiceResult{Service: name, Action: "unchanged", Outcome: OutcomeUnchanged,
			Image: prep.Desired.Services[name].TaskTemplate.ContainerSpec.Image})
	}
	if !plan.HasChanges() {
		res.Outcome = DeployNoChanges
		sortResults(res)
		return res, nil
	}
	authFor := func(image string) string {
		if !o.WithRegistryAuth || o.Auth == nil {
			return ""
		}
		v, err := o.Auth(image)
		if err != nil {
			log.Warn("no registry credentials", "image", image, "error", err)
			return ""
		}
		return v
	}
	ao := ApplyOptions{Parallel: o.Parallel, Auth: authFor, Out: o.Out, Logger: o.Logger}
	writes := &Plan{Stack: plan.Stack, Changes: withoutObjectRemovals(plan.Changes)}
	applied, applyErr := Apply(ctx, api, writes, ao)
	images := map[string]string{}
	for _, c := range plan.Changes {
		if c.service != nil {
			images[c.Name] = c.service.TaskTemplate.ContainerSpec.Image
		}
	}
	if applyErr != nil {
		res.Outcome, res.Error = DeployFailed, applyErr.Error()
		res.Services = append(res.Services, appliedResults(applied, images, nil)...)
		msg := "the stack is partly applied; fix the problem and deploy again, or use --atomic"
		if o.Atomic {
			res.Undone, msg = undo(api, applied, ao)
		}
		sortResults(res)
		return res, exit.With(exit.Failure, fmt.Errorf("deploy stack %q: %w; %s", in.Namespace, applyErr, msg))
	}
	ids := applied.ServiceIDs()
	var outcomes []ServiceOutcome
	if o.Wait && len(ids) > 0 {
		wctx, cancel := context.WithTimeout(ctx, o.Timeout)
		outcomes = Wait(wctx, api, ids, WaitOptions{Out: o.Out, Interval: o.WaitInterval, Settle: o.Settle, Logger: o.Logger})
		cancel()
	}
	res.Services = append(res.Services, appliedResults(applied, images, outcomes)...)
	var failed []string
	for _, oc := range outcomes {
		if !oc.Converged() {
			msg := oc.Outcome
			if oc.Message != "" {
				msg += ": " + oc.Message
			}
			failed = append(failed, fmt.Sprintf("service %s %s", oc.Name, msg))
		}
	}
	if len(failed) > 0 {
		res.Outcome = DeployNotConverged
		msg := "check the task errors with docker service ps --no-trunc"
		if o.Atomic {
			res.Undone, msg = undo(api, applied, ao)
		}
		err := fmt.Errorf("stack %q did not converge:\n  %s\n%s", in.Namespace, strings.Join(failed, "\n  "), msg)
		res.Error = err.Error()
		sortResults(res)
		return res, exit.With(exit.NotConverge, err)
	}
	// Old config/secret versions can only go once no service uses them.
	for _, c := range plan.Changes {
		if c.Action != ActionRemove || c.Kind == KindService {
			continue
		}
		if _, err := applyChange(ctx, api, c, ao); err != nil {
			res.Warnings = append(res.Warnings, err.Error())
			log.Warn("prune failed", "kind", c.Kind, "name", c.Name, "error", err)
			continue
		}
		fmt.Fprintf(o.Out, "Removing %s %s\n", c.Kind, c.Name)
	}
	res.Outcome = DeployConverged
	if !o.Wait {
		res.Outcome = DeployApplied
	}
	sortResults(res)
	return res, nil
}

func withoutObjectRemovals(changes []Change) []Change {
	var out []Change
	for _, c := range changes {
		if c.Action == ActionRemove && c.Kind != KindService {
			continue
		}
		out = append(out, c)
	}
	return out
}

func undo(api WriteAPI, applied *Applied, ao ApplyOptions) ([]string, string) {
	fmt.Fprintln(ao.Out, "atomic: undoing this run's changes")
	errs := Undo(api, applied, ao)
	var done []string
	for n := range applied.Updated {
		done = append(done, "restored service "+n)
	}
	for n := range applied.Created {
		done = append(done, "removed service "+n)
	}
	slices.Sort(done)
	if len(errs) > 0 {
		return done, "atomic undo incomplete: " + strings.Join(errs, "; ")
	}
	return done, fmt.Sprintf("atomic: restored %d updated and removed %d created service(s), %d network(s), %d config(s), %d secret(s)",
		len(applied.Updated), len(applied.Created), len(applied.Networks), len(applied.Configs), len(applied.Secrets))
}

func appliedResults(a *Applied, images map[string]string, outcomes []ServiceOutcome) []ServiceResult {
	byName := map[string]ServiceOutcome{}
	for _, o := range outcomes {
		byName[o.Name] = o
	}
	var out []ServiceResult
	add := func(name, action string) {
		r := ServiceResult{Service: name, Action: action, Image: images[name], Outcome: OutcomeDetached}
		if oc, ok := byName[name]; ok {
			r.Outcome, r.Message, r.Duration = oc.Outcome, oc.Message, oc.Duration.Round(time.Millisecond).Seconds()
		}
		out = append(out, r)
	}
	for n := range a.Created {
		add(n, ActionCreate)
	}
	for n := range a.Updated {
		add(n, ActionUpdate)
	}
	for _, r := range a.Removed {
		if name, ok := strings.CutPrefix(r, KindService+" "); ok {
			out = append(out, ServiceResult{Service: name, Action: ActionRemove, Outcome: "removed"})
		}
	}
	return out
}

func sortResults(r *Result) {
	slices.SortFunc(r.Services, func(a, b ServiceResult) int { return strings.Compare(a.Service, b.Service) })
	slices.Sort(r.Warnings)
}
