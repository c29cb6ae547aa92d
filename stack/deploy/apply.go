package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/swarmspec"
)

// ApplyOptions steers how a plan is written.
type ApplyOptions struct {
	Parallel int                 // concurrent writes per phase; <1 means 1
	Auth     func(string) string // compose image → encoded registry auth ("" for none)
	Out      io.Writer           // one line per write
	Logger   *slog.Logger
	// Gate, when the plan has waves, is called before each wave's service
	// writes with what was applied so far; an error stops the apply.
	Gate func(ctx context.Context, i int, w plan.Wave, a *Applied) error
}

// Applied records what an apply wrote, so a failed deploy can be undone.
type Applied struct {
	mu       sync.Mutex
	Networks []string               // IDs of networks created
	Configs  []string               // IDs of configs created
	Secrets  []string               // IDs of secrets created
	Created  map[string]string      // service name → ID, services created
	Updated  map[string]plan.Change // service name → the update (with its previous spec)
	Removed  []string               // names of objects removed
	Started  map[string]time.Time   // service name → when its write returned
}

func newApplied() *Applied {
	return &Applied{Created: map[string]string{}, Updated: map[string]plan.Change{}, Started: map[string]time.Time{}}
}

// ServiceIDs returns the IDs of the services the apply created or updated, by name.
func (a *Applied) ServiceIDs() map[string]string {
	out := map[string]string{}
	for n, id := range a.Created {
		out[n] = id
	}
	for n, c := range a.Updated {
		out[n] = c.ID
	}
	return out
}

// Apply writes a plan: networks, then configs and secrets, then services
// (removals last), each phase with up to Parallel concurrent writes. It stops
// at the first failing phase and returns what it wrote so far.
func Apply(ctx context.Context, api WriteAPI, p *plan.Plan, o ApplyOptions) (*Applied, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Out = &syncWriter{w: o.Out}
	log := o.Logger.With("component", "deploy", "stack", p.Stack)
	a := newApplied()
	phases := [][]plan.Change{
		plan.Filter(p.Changes, plan.KindNetwork, plan.ActionCreate),
		append(plan.Filter(p.Changes, plan.KindConfig, plan.ActionCreate, plan.ActionUpdate), plan.Filter(p.Changes, plan.KindSecret, plan.ActionCreate, plan.ActionUpdate)...),
		plan.Filter(p.Changes, plan.KindService, plan.ActionCreate, plan.ActionUpdate),
		plan.Filter(p.Changes, plan.KindService, plan.ActionRemove),
	}
	ids := swarmspec.ObjectIDs{Configs: map[string]string{}, Secrets: map[string]string{}}
	var idsMu sync.Mutex
	for i, phase := range phases {
		if i == 2 {
			for j := range phase {
				phase[j] = resolvePendingIDs(phase[j], ids)
			}
		}
		write := func(ctx context.Context, c plan.Change) error {
			id, err := applyChange(ctx, api, c, o)
			if err != nil {
				log.Warn("write failed", "kind", c.Kind, "name", c.Name, "action", c.Action, "error", err)
				return err
			}
			log.Debug("wrote", "kind", c.Kind, "name", c.Name, "action", c.Action)
			fmt.Fprintf(o.Out, "%s %s %s\n", actionVerb(c.Action), c.Kind, c.Name)
			a.record(c, id)
			idsMu.Lock()
			switch c.Kind {
			case plan.KindConfig:
				ids.Configs[c.Name] = id
			case plan.KindSecret:
				ids.Secrets[c.Name] = id
			}
			idsMu.Unlock()
			return nil
		}
		if i == 2 && len(p.Waves) > 0 && o.Gate != nil {
			if err := applyWaves(ctx, p.Waves, phase, a, o, write); err != nil {
				return a, err
			}
			continue
		}
		if err := runParallel(ctx, o.Parallel, phase, write); err != nil {
			return a, err
		}
	}
	return a, nil
}

// applyWaves writes the service changes wave by wave, each after its gate.
// A change in no wave (none, by plan.Waves) goes with the first.
func applyWaves(ctx context.Context, waves []plan.Wave, changes []plan.Change, a *Applied, o ApplyOptions, write func(context.Context, plan.Change) error) error {
	byWave := make([][]plan.Change, len(waves))
	for _, c := range changes {
		i := slices.IndexFunc(waves, func(w plan.Wave) bool { return slices.Contains(w.Services, c.Name) })
		byWave[max(i, 0)] = append(byWave[max(i, 0)], c)
	}
	for i, w := range waves {
		if err := o.Gate(ctx, i, w, a); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "Wave %d/%d: %s\n", i+1, len(waves), strings.Join(w.Services, ", "))
		if err := runParallel(ctx, o.Parallel, byWave[i], write); err != nil {
			return err
		}
	}
	return nil
}

func actionVerb(action plan.Action) string {
	switch action {
	case plan.ActionCreate:
		return "Creating"
	case plan.ActionUpdate:
		return "Updating"
	default:
		return "Removing"
	}
}

func (a *Applied) record(c plan.Change, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case c.Action == plan.ActionRemove:
		a.Removed = append(a.Removed, string(c.Kind)+" "+c.Name)
	case c.Kind == plan.KindNetwork:
		a.Networks = append(a.Networks, id)
	case c.Kind == plan.KindConfig && c.Action == plan.ActionCreate:
		a.Configs = append(a.Configs, id)
	case c.Kind == plan.KindSecret && c.Action == plan.ActionCreate:
		a.Secrets = append(a.Secrets, id)
	case c.Kind == plan.KindService && c.Action == plan.ActionCreate:
		a.Created[c.Name] = id
		a.Started[c.Name] = time.Now()
	case c.Kind == plan.KindService && c.Action == plan.ActionUpdate:
		a.Updated[c.Name] = c
		a.Started[c.Name] = time.Now()
	}
}

// resolvePendingIDs replaces the pending config/secret IDs of a service spec
// with the IDs of the objects created in the previous phase.
func resolvePendingIDs(c plan.Change, ids swarmspec.ObjectIDs) plan.Change {
	if c.Service != nil {
		spec := swarmspec.FillIDs(*c.Service, ids)
		c.Service = &spec
	}
	return c
}

// applyChange makes one write and returns the ID of the object written.
func applyChange(ctx context.Context, api WriteAPI, c plan.Change, o ApplyOptions) (string, error) {
	auth := ""
	if o.Auth != nil && c.Image != "" {
		auth = o.Auth(c.Image)
	}
	switch {
	case c.Kind == plan.KindNetwork:
		res, err := api.NetworkCreate(ctx, c.Name, *c.Network)
		if err != nil {
			return "", fmt.Errorf("create network %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == plan.KindConfig && c.Action == plan.ActionCreate:
		res, err := api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: *c.Config})
		if err != nil {
			return "", fmt.Errorf("create config %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == plan.KindConfig && c.Action == plan.ActionUpdate:
		if _, err := api.ConfigUpdate(ctx, c.ID, client.ConfigUpdateOptions{Version: c.Version, Spec: *c.Config}); err != nil {
			return "", fmt.Errorf("update config %q: %w; only labels of a config can change, give changed data a new name", c.Name, err)
		}
		return c.ID, nil
	case c.Kind == plan.KindSecret && c.Action == plan.ActionCreate:
		res, err := api.SecretCreate(ctx, client.SecretCreateOptions{Spec: *c.Secret})
		if err != nil {
			return "", fmt.Errorf("create secret %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == plan.KindSecret && c.Action == plan.ActionUpdate:
		if _, err := api.SecretUpdate(ctx, c.ID, client.SecretUpdateOptions{Version: c.Version, Spec: *c.Secret}); err != nil {
			return "", fmt.Errorf("update secret %q: %w; only labels of a secret can change, give changed data a new name", c.Name, err)
		}
		return c.ID, nil
	case c.Kind == plan.KindService && c.Action == plan.ActionCreate:
		res, err := api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: *c.Service, EncodedRegistryAuth: auth})
		if err != nil {
			return "", fmt.Errorf("create service %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == plan.KindService && c.Action == plan.ActionUpdate:
		return c.ID, updateService(ctx, api, c, auth)
	case c.Kind == plan.KindService && c.Action == plan.ActionRemove:
		if _, err := api.ServiceRemove(ctx, c.ID, client.ServiceRemoveOptions{}); err != nil {
			return "", fmt.Errorf("remove service %q: %w", c.Name, err)
		}
		return c.ID, nil
	case c.Kind == plan.KindConfig && c.Action == plan.ActionRemove:
		if _, err := api.ConfigRemove(ctx, c.ID, client.ConfigRemoveOptions{}); err != nil {
			return "", fmt.Errorf("remove config %q: %w", c.Name, err)
		}
		return c.ID, nil
	case c.Kind == plan.KindSecret && c.Action == plan.ActionRemove:
		if _, err := api.SecretRemove(ctx, c.ID, client.SecretRemoveOptions{}); err != nil {
			return "", fmt.Errorf("remove secret %q: %w", c.Name, err)
		}
		return c.ID, nil
	}
	return "", fmt.Errorf("cannot %s %s %q", c.Action, c.Kind, c.Name)
}

// runParallel runs fn for every change with at most n at a time. After the
// first failure it starts no more; it returns all failures joined.
func runParallel(ctx context.Context, n int, changes []plan.Change, fn func(context.Context, plan.Change) error) error {
	if n < 1 {
		n = 1
	}
	var (
		mu     sync.Mutex
		errs   []error
		failed bool
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, n)
	for _, c := range changes {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return errors.Join(append(errs, ctx.Err())...)
		}
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, c); err != nil {
				mu.Lock()
				failed = true
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Undo restores every service the apply updated to its previous spec and
// removes every service, config, secret and network it created. It uses its
// own context so that it also runs after Ctrl-C. It returns what it undid
// and what it could not, both sorted.
func Undo(api WriteAPI, a *Applied, o ApplyOptions) (done, errs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if o.Out == nil {
		o.Out = io.Discard
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	note := func(msg string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err.Error())
			return
		}
		done = append(done, msg)
	}
	for name, c := range a.Updated {
		wg.Add(1)
		go func() {
			defer wg.Done()
			note(restoredLine(name), restoreService(ctx, api, c))
		}()
	}
	for name, id := range a.Created {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := api.ServiceRemove(ctx, id, client.ServiceRemoveOptions{})
			if err != nil {
				err = fmt.Errorf("remove created service %q: %w; remove it with docker service rm", name, err)
			}
			note("removed service "+name, err)
		}()
	}
	wg.Wait()
	// Objects can only go once no service uses them; the engine lets go of
	// removed services' references asynchronously, so retry for a while.
	for _, id := range a.Configs {
		note("removed config "+id, retry(ctx, func() error {
			_, err := api.ConfigRemove(ctx, id, client.ConfigRemoveOptions{})
			return err
		}))
	}
	for _, id := range a.Secrets {
		note("removed secret "+id, retry(ctx, func() error {
			_, err := api.SecretRemove(ctx, id, client.SecretRemoveOptions{})
			return err
		}))
	}
	for _, id := range a.Networks {
		note("removed network "+id, retry(ctx, func() error {
			_, err := api.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
			return err
		}))
	}
	done, errs = sortStrings(done), sortStrings(errs)
	for _, d := range done {
		fmt.Fprintf(o.Out, "atomic: %s\n", d)
	}
	return done, errs
}

// restoredLine is how Undo lists a service it restored.
func restoredLine(name string) string { return "restored service " + name }

// updateService writes a service's new spec over the version the plan read.
// When swarm moved the service's version on without changing its spec (an
// engine restart, a manager election, swarm's own bookkeeping between the
// plan and a later wave), the update is made over the new version; a spec
// that someone else changed is an error that says so.
func updateService(ctx context.Context, api WriteAPI, c plan.Change, auth string) error {
	version := c.Version
	for attempt := 0; ; attempt++ {
		_, err := api.ServiceUpdate(ctx, c.ID, client.ServiceUpdateOptions{Version: version, Spec: *c.Service, EncodedRegistryAuth: auth})
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "update out of sequence") || c.Previous == nil || attempt == 2 {
			return fmt.Errorf("update service %q: %w", c.Name, err)
		}
		res, ierr := api.ServiceInspect(ctx, c.ID, client.ServiceInspectOptions{})
		if ierr != nil {
			return fmt.Errorf("update service %q: %w; reading it again: %w", c.Name, err, ierr)
		}
		if !plan.SpecsEqual(res.Service.Spec, *c.Previous) {
			return fmt.Errorf("update service %q: someone else changed it after deckhand read it (version %d, read at %d); run deckhand plan to see the difference, then deploy again", c.Name, res.Service.Version.Index, c.Version.Index)
		}
		version = res.Service.Version
	}
}

func restoreService(ctx context.Context, api WriteAPI, c plan.Change) error {
	res, err := api.ServiceInspect(ctx, c.ID, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("restore service %q: %w; roll it back with deckhand rollback", c.Name, err)
	}
	if plan.SpecsEqual(res.Service.Spec, *c.Previous) {
		return nil // swarm rolled it back already
	}
	spec := *c.Previous
	if _, err := api.ServiceUpdate(ctx, c.ID, client.ServiceUpdateOptions{Version: res.Service.Version, Spec: spec, RegistryAuthFrom: swarm.RegistryAuthFromPreviousSpec}); err != nil {
		return fmt.Errorf("restore service %q: %w; roll it back with deckhand rollback", c.Name, err)
	}
	return nil
}

func retry(ctx context.Context, fn func() error) error {
	var err error
	for range 20 {
		if err = fn(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}

func sortStrings(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// syncWriter serializes writes from parallel workers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
