package stack

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
)

// WriteAPI is the part of the engine API that apply writes with.
type WriteAPI interface {
	NetworkCreate(ctx context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	NetworkRemove(ctx context.Context, id string, o client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
	ConfigCreate(ctx context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error)
	ConfigUpdate(ctx context.Context, id string, o client.ConfigUpdateOptions) (client.ConfigUpdateResult, error)
	ConfigRemove(ctx context.Context, id string, o client.ConfigRemoveOptions) (client.ConfigRemoveResult, error)
	SecretCreate(ctx context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error)
	SecretUpdate(ctx context.Context, id string, o client.SecretUpdateOptions) (client.SecretUpdateResult, error)
	SecretRemove(ctx context.Context, id string, o client.SecretRemoveOptions) (client.SecretRemoveResult, error)
	ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceRemove(ctx context.Context, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
}

// networkCreate is a network a plan creates.
type networkCreate struct {
	Name    string
	Options client.NetworkCreateOptions
}

// ApplyOptions steers how a plan is written.
type ApplyOptions struct {
	Parallel int                 // concurrent writes per phase; <1 means 1
	Auth     func(string) string // compose image → encoded registry auth ("" for none)
	Out      io.Writer           // one line per write
	Logger   *slog.Logger
}

// Applied records what an apply wrote, so a failed deploy can be undone.
type Applied struct {
	mu       sync.Mutex
	Networks []string             // IDs of networks created
	Configs  []string             // IDs of configs created
	Secrets  []string             // IDs of secrets created
	Created  map[string]string    // service name → ID, services created
	Updated  map[string]Change    // service name → the update (with its previous spec)
	Removed  []string             // names of objects removed
	Started  map[string]time.Time // service name → when its write returned
}

func newApplied() *Applied {
	return &Applied{Created: map[string]string{}, Updated: map[string]Change{}, Started: map[string]time.Time{}}
}

// ServiceIDs returns the IDs of the services the apply created or updated, by name.
func (a *Applied) ServiceIDs() map[string]string {
	out := map[string]string{}
	for n, id := range a.Created {
		out[n] = id
	}
	for n, c := range a.Updated {
		out[n] = c.id
	}
	return out
}

// Apply writes a plan: networks, then configs and secrets, then services
// (removals last), each phase with up to Parallel concurrent writes. It stops
// at the first failing phase and returns what it wrote so far.
func Apply(ctx context.Context, api WriteAPI, p *Plan, o ApplyOptions) (*Applied, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Out = &syncWriter{w: o.Out}
	log := o.Logger.With("component", "deploy", "stack", p.Stack)
	a := newApplied()
	phases := [][]Change{
		filterChanges(p.Changes, KindNetwork, ActionCreate),
		append(filterChanges(p.Changes, KindConfig, ActionCreate, ActionUpdate), filterChanges(p.Changes, KindSecret, ActionCreate, ActionUpdate)...),
		filterChanges(p.Changes, KindService, ActionCreate, ActionUpdate),
		filterChanges(p.Changes, KindService, ActionRemove),
	}
	ids := ObjectIDs{Configs: map[string]string{}, Secrets: map[string]string{}}
	var idsMu sync.Mutex
	for i, phase := range phases {
		if i == 2 {
			for j := range phase {
				phase[j] = resolvePendingIDs(phase[j], ids)
			}
		}
		err := runParallel(ctx, o.Parallel, phase, func(ctx context.Context, c Change) error {
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
			case KindConfig:
				ids.Configs[c.Name] = id
			case KindSecret:
				ids.Secrets[c.Name] = id
			}
			idsMu.Unlock()
			return nil
		})
		if err != nil {
			return a, err
		}
	}
	return a, nil
}

func actionVerb(action string) string {
	switch action {
	case ActionCreate:
		return "Creating"
	case ActionUpdate:
		return "Updating"
	default:
		return "Removing"
	}
}

func (a *Applied) record(c Change, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case c.Action == ActionRemove:
		a.Removed = append(a.Removed, c.Kind+" "+c.Name)
	case c.Kind == KindNetwork:
		a.Networks = append(a.Networks, id)
	case c.Kind == KindConfig && c.Action == ActionCreate:
		a.Configs = append(a.Configs, id)
	case c.Kind == KindSecret && c.Action == ActionCreate:
		a.Secrets = append(a.Secrets, id)
	case c.Kind == KindService && c.Action == ActionCreate:
		a.Created[c.Name] = id
		a.Started[c.Name] = time.Now()
	case c.Kind == KindService && c.Action == ActionUpdate:
		a.Updated[c.Name] = c
		a.Started[c.Name] = time.Now()
	}
}

func filterChanges(changes []Change, kind string, actions ...string) []Change {
	var out []Change
	for _, c := range changes {
		if c.Kind != kind {
			continue
		}
		for _, a := range actions {
			if c.Action == a {
				out = append(out, c)
			}
		}
	}
	return out
}

// resolvePendingIDs replaces the pending config/secret IDs of a service spec
// with the IDs of the objects created in the previous phase.
func resolvePendingIDs(c Change, ids ObjectIDs) Change {
	if c.service != nil {
		spec := fillIDs(*c.service, ids)
		c.service = &spec
	}
	return c
}

// fillIDs returns spec with the pending config/secret IDs that ids knows replaced.
func fillIDs(spec swarm.ServiceSpec, ids ObjectIDs) swarm.ServiceSpec {
	if spec.TaskTemplate.ContainerSpec == nil {
		return spec
	}
	cs := *spec.TaskTemplate.ContainerSpec
	cs.Configs = slices.Clone(cs.Configs)
	for i, r := range cs.Configs {
		if id, ok := ids.Configs[r.ConfigName]; ok && strings.HasPrefix(r.ConfigID, pendingIDPrefix) {
			rc := *r
			rc.ConfigID = id
			cs.Configs[i] = &rc
		}
	}
	cs.Secrets = slices.Clone(cs.Secrets)
	for i, r := range cs.Secrets {
		if id, ok := ids.Secrets[r.SecretName]; ok && strings.HasPrefix(r.SecretID, pendingIDPrefix) {
			rc := *r
			rc.SecretID = id
			cs.Secrets[i] = &rc
		}
	}
	spec.TaskTemplate.ContainerSpec = &cs
	return spec
}

// applyChange makes one write and returns the ID of the object written.
func applyChange(ctx context.Context, api WriteAPI, c Change, o ApplyOptions) (string, error) {
	auth := ""
	if o.Auth != nil && c.image != "" {
		auth = o.Auth(c.image)
	}
	switch {
	case c.Kind == KindNetwork:
		res, err := api.NetworkCreate(ctx, c.Name, c.network.Options)
		if err != nil {
			return "", fmt.Errorf("create network %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == KindConfig && c.Action == ActionCreate:
		res, err := api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: *c.config})
		if err != nil {
			return "", fmt.Errorf("create config %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == KindConfig && c.Action == ActionUpdate:
		if _, err := api.ConfigUpdate(ctx, c.id, client.ConfigUpdateOptions{Version: c.version, Spec: *c.config}); err != nil {
			return "", fmt.Errorf("update config %q: %w; only labels of a config can change, give changed data a new name", c.Name, err)
		}
		return c.id, nil
	case c.Kind == KindSecret && c.Action == ActionCreate:
		res, err := api.SecretCreate(ctx, client.SecretCreateOptions{Spec: *c.secret})
		if err != nil {
			return "", fmt.Errorf("create secret %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == KindSecret && c.Action == ActionUpdate:
		if _, err := api.SecretUpdate(ctx, c.id, client.SecretUpdateOptions{Version: c.version, Spec: *c.secret}); err != nil {
			return "", fmt.Errorf("update secret %q: %w; only labels of a secret can change, give changed data a new name", c.Name, err)
		}
		return c.id, nil
	case c.Kind == KindService && c.Action == ActionCreate:
		res, err := api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: *c.service, EncodedRegistryAuth: auth})
		if err != nil {
			return "", fmt.Errorf("create service %q: %w", c.Name, err)
		}
		return res.ID, nil
	case c.Kind == KindService && c.Action == ActionUpdate:
		if _, err := api.ServiceUpdate(ctx, c.id, client.ServiceUpdateOptions{Version: c.version, Spec: *c.service, EncodedRegistryAuth: auth}); err != nil {
			return "", fmt.Errorf("update service %q: %w", c.Name, err)
		}
		return c.id, nil
	case c.Kind == KindService && c.Action == ActionRemove:
		if _, err := api.ServiceRemove(ctx, c.id, client.ServiceRemoveOptions{}); err != nil {
			return "", fmt.Errorf("remove service %q: %w", c.Name, err)
		}
		return c.id, nil
	case c.Kind == KindConfig && c.Action == ActionRemove:
		if _, err := api.ConfigRemove(ctx, c.id, client.ConfigRemoveOptions{}); err != nil {
			return "", fmt.Errorf("remove config %q: %w", c.Name, err)
		}
		return c.id, nil
	case c.Kind == KindSecret && c.Action == ActionRemove:
		if _, err := api.SecretRemove(ctx, c.id, client.SecretRemoveOptions{}); err != nil {
			return "", fmt.Errorf("remove secret %q: %w", c.Name, err)
		}
		return c.id, nil
	}
	return "", fmt.Errorf("cannot %s %s %q", c.Action, c.Kind, c.Name)
}

// runParallel runs fn for every change with at most n at a time. After the
// first failure it starts no more; it returns all failures joined.
func runParallel(ctx context.Context, n int, changes []Change, fn func(context.Context, Change) error) error {
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
// own context so that it also runs after Ctrl-C.
func Undo(api WriteAPI, a *Applied, o ApplyOptions) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if o.Out == nil {
		o.Out = io.Discard
	}
	var (
		mu   sync.Mutex
		done []string
		errs []string
		wg   sync.WaitGroup
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
			note("restored service "+name, restoreService(ctx, api, c))
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
	for _, d := range sortStrings(done) {
		fmt.Fprintf(o.Out, "atomic: %s\n", d)
	}
	return sortStrings(errs)
}

func restoreService(ctx context.Context, api WriteAPI, c Change) error {
	res, err := api.ServiceInspect(ctx, c.id, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("restore service %q: %w; roll it back with deckhand rollback", c.Name, err)
	}
	if specsEqual(res.Service.Spec, *c.previous) {
		return nil // swarm rolled it back already
	}
	spec := *c.previous
	if _, err := api.ServiceUpdate(ctx, c.id, client.ServiceUpdateOptions{Version: res.Service.Version, Spec: spec, RegistryAuthFrom: swarm.RegistryAuthFromPreviousSpec}); err != nil {
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
