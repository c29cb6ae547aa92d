package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is an in-memory swarm behind DeployAPI and RollbackAPI. It
// records every call, stores specs the way the engine does (filling in the
// defaults the real engine adds), and can be told to fail or misbehave.
type fakeEngine struct {
	mu       sync.Mutex
	calls    []string // "Method name", in order
	nextID   int
	services map[string]*swarm.Service // by ID
	networks map[string]network.Summary
	configs  map[string]swarm.Config
	secrets  map[string]swarm.Secret
	external map[string]string // external network name → scope

	images   map[string]digest.Digest // image ref → digest; absent → not found
	authSeen map[string][]string      // image → encoded auth values DistributionInspect got
	fail     map[string]error         // "Method name" → error
	noLeader bool
	notSwarm bool

	// behaviour of tasks per service name: "" (healthy), "rollback"
	// (swarm rolls updates back), "paused" (swarm pauses updates), "stuck"
	// (tasks never run), "unschedulable" (tasks stay pending: no suitable
	// node), "fail" (every attempt of a job's task exits 3), "flaky" (its
	// first two attempts do); jobs otherwise complete.
	behaviour map[string]string
	// jobRuns are the attempts of the failing or flaky jobs, by service ID.
	jobRuns map[string]jobRun

	// nodes, when set, is what NodeList answers instead of one healthy leader.
	nodes []swarm.Node

	// gate, when set, holds ServiceCreate/Update calls until gateN are in flight.
	gate                   chan struct{}
	gateN, inflight, peakN int
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		services: map[string]*swarm.Service{}, networks: map[string]network.Summary{},
		configs: map[string]swarm.Config{}, secrets: map[string]swarm.Secret{},
		external: map[string]string{}, images: map[string]digest.Digest{}, authSeen: map[string][]string{},
		fail: map[string]error{}, behaviour: map[string]string{}, jobRuns: map[string]jobRun{},
	}
}

func (f *fakeEngine) record(method, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method+" "+name)
	return f.fail[method+" "+name]
}

// countCalls is how many recorded calls start with prefix ("Method name").
func (f *fakeEngine) countCalls(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeEngine) id(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s%04d", prefix, f.nextID)
}

// writes are the recorded calls that change the swarm.
func (f *fakeEngine) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		m, _, _ := strings.Cut(c, " ")
		if strings.HasSuffix(m, "Create") || strings.HasSuffix(m, "Update") || strings.HasSuffix(m, "Remove") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeEngine) serviceByName(name string) *swarm.Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.services {
		if s.Spec.Name == name {
			c := *s
			return &c
		}
	}
	return nil
}

func hasLabel(labels map[string]string, flt client.Filters) bool {
	for l := range flt["label"] {
		k, v, ok := strings.Cut(l, "=")
		if got, has := labels[k]; !has || (ok && got != v) {
			return false
		}
	}
	return true
}

func (f *fakeEngine) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var r client.SystemInfoResult
	if f.notSwarm {
		r.Info = system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive}}
		return r, nil
	}
	r.Info = system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true, NodeID: "n1"}}
	return r, nil
}

func (f *fakeEngine) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	if f.notSwarm {
		return client.NodeListResult{}, errors.New(`Error response from daemon: This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
	if f.noLeader {
		return client.NodeListResult{}, errors.New("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.")
	}
	if f.nodes != nil {
		return client.NodeListResult{Items: f.nodes}, nil
	}
	return client.NodeListResult{Items: []swarm.Node{{ID: "n1", Description: swarm.NodeDescription{Hostname: "node1"},
		Spec:          swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityActive},
		Status:        swarm.NodeStatus{State: swarm.NodeStateReady},
		ManagerStatus: &swarm.ManagerStatus{Leader: true, Reachability: swarm.ReachabilityReachable, Addr: "10.0.0.1:2377"}}}}, nil
}

func (f *fakeEngine) ServiceList(_ context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r client.ServiceListResult
	for _, s := range f.services {
		if hasLabel(s.Spec.Labels, o.Filters) && (len(o.Filters["id"]) == 0 || o.Filters["id"][s.ID]) {
			r.Items = append(r.Items, *s)
		}
	}
	return r, nil
}

func (f *fakeEngine) NetworkList(_ context.Context, o client.NetworkListOptions) (client.NetworkListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r client.NetworkListResult
	for _, n := range f.networks {
		if hasLabel(n.Labels, o.Filters) {
			r.Items = append(r.Items, n)
		}
	}
	return r, nil
}

func (f *fakeEngine) NetworkInspect(_ context.Context, name string, _ client.NetworkInspectOptions) (client.NetworkInspectResult, error) {
	scope, ok := f.external[name]
	if !ok {
		return client.NetworkInspectResult{}, errdefs.ErrNotFound.WithMessage("network " + name + " not found")
	}
	var r client.NetworkInspectResult
	r.Network.Name, r.Network.Scope = name, scope
	return r, nil
}

func (f *fakeEngine) ConfigList(_ context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r client.ConfigListResult
	for _, c := range f.configs {
		if hasLabel(c.Spec.Labels, o.Filters) && (len(o.Filters["name"]) == 0 || o.Filters["name"][c.Spec.Name]) {
			r.Items = append(r.Items, c)
		}
	}
	return r, nil
}

func (f *fakeEngine) SecretList(_ context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r client.SecretListResult
	for _, s := range f.secrets {
		if hasLabel(s.Spec.Labels, o.Filters) && (len(o.Filters["name"]) == 0 || o.Filters["name"][s.Spec.Name]) {
			r.Items = append(r.Items, s)
		}
	}
	return r, nil
}

func (f *fakeEngine) DistributionInspect(_ context.Context, image string, o client.DistributionInspectOptions) (client.DistributionInspectResult, error) {
	if err := f.record("DistributionInspect", image); err != nil {
		return client.DistributionInspectResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authSeen[image] = append(f.authSeen[image], o.EncodedRegistryAuth)
	d, ok := f.images[image]
	if !ok {
		return client.DistributionInspectResult{}, errdefs.ErrNotFound.WithMessage("manifest unknown")
	}
	var r client.DistributionInspectResult
	r.DistributionInspect = registry.DistributionInspect{Descriptor: ocispec.Descriptor{Digest: d},
		Platforms: []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}}
	return r, nil
}

func (f *fakeEngine) NetworkCreate(_ context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	if err := f.record("NetworkCreate", name); err != nil {
		return client.NetworkCreateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id("net")
	f.networks[id] = network.Summary{Network: network.Network{ID: id, Name: name, Labels: o.Labels, Driver: o.Driver, Scope: "swarm"}}
	return client.NetworkCreateResult{ID: id}, nil
}

func (f *fakeEngine) NetworkRemove(_ context.Context, id string, _ client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	f.mu.Lock()
	name := f.networks[id].Name
	f.mu.Unlock()
	if err := f.record("NetworkRemove", name); err != nil {
		return client.NetworkRemoveResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.networks, id)
	return client.NetworkRemoveResult{}, nil
}

func (f *fakeEngine) ConfigCreate(_ context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error) {
	if err := f.record("ConfigCreate", o.Spec.Name); err != nil {
		return client.ConfigCreateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.configs {
		if c.Spec.Name == o.Spec.Name {
			return client.ConfigCreateResult{}, errdefs.ErrConflict.WithMessage("config " + o.Spec.Name + " already exists")
		}
	}
	id := f.id("cfg")
	f.configs[id] = swarm.Config{ID: id, Meta: swarm.Meta{CreatedAt: time.Unix(int64(f.nextID), 0)}, Spec: o.Spec}
	return client.ConfigCreateResult{ID: id}, nil
}

func (f *fakeEngine) ConfigUpdate(_ context.Context, id string, o client.ConfigUpdateOptions) (client.ConfigUpdateResult, error) {
	if err := f.record("ConfigUpdate", o.Spec.Name); err != nil {
		return client.ConfigUpdateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.configs[id]; ok {
		c.Spec.Labels = o.Spec.Labels // only labels can change
		f.configs[id] = c
	}
	return client.ConfigUpdateResult{}, nil
}

func (f *fakeEngine) ConfigRemove(_ context.Context, id string, _ client.ConfigRemoveOptions) (client.ConfigRemoveResult, error) {
	f.mu.Lock()
	name := f.configs[id].Spec.Name
	f.mu.Unlock()
	if err := f.record("ConfigRemove", name); err != nil {
		return client.ConfigRemoveResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.configs, id)
	return client.ConfigRemoveResult{}, nil
}

func (f *fakeEngine) SecretCreate(_ context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error) {
	if err := f.record("SecretCreate", o.Spec.Name); err != nil {
		return client.SecretCreateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id("sec")
	spec := o.Spec
	spec.Data = nil // the engine never returns secret data
	f.secrets[id] = swarm.Secret{ID: id, Meta: swarm.Meta{CreatedAt: time.Unix(int64(f.nextID), 0)}, Spec: spec}
	return client.SecretCreateResult{ID: id}, nil
}

func (f *fakeEngine) SecretUpdate(_ context.Context, id string, o client.SecretUpdateOptions) (client.SecretUpdateResult, error) {
	return client.SecretUpdateResult{}, f.record("SecretUpdate", o.Spec.Name)
}

func (f *fakeEngine) SecretRemove(_ context.Context, id string, _ client.SecretRemoveOptions) (client.SecretRemoveResult, error) {
	f.mu.Lock()
	name := f.secrets[id].Spec.Name
	f.mu.Unlock()
	if err := f.record("SecretRemove", name); err != nil {
		return client.SecretRemoveResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.secrets, id)
	return client.SecretRemoveResult{}, nil
}

// engineDefaults fills in what the real engine adds to a stored spec.
func engineDefaults(spec swarm.ServiceSpec) swarm.ServiceSpec {
	if spec.TaskTemplate.ContainerSpec != nil {
		cs := *spec.TaskTemplate.ContainerSpec
		cs.Isolation = "default"
		spec.TaskTemplate.ContainerSpec = &cs
	}
	spec.TaskTemplate.Runtime = swarm.RuntimeContainer
	if m := spec.Mode.Replicated; m != nil && m.Replicas == nil {
		one := uint64(1)
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &one}
	}
	if m := spec.Mode.ReplicatedJob; m != nil {
		j, one := *m, uint64(1)
		if j.MaxConcurrent == nil {
			j.MaxConcurrent = &one
		}
		if j.TotalCompletions == nil {
			j.TotalCompletions = &one
		}
		spec.Mode.ReplicatedJob = &j
	}
	for _, uc := range []**swarm.UpdateConfig{&spec.UpdateConfig, &spec.RollbackConfig} {
		if *uc == nil {
			continue
		}
		c := **uc
		c.FailureAction = cmp.Or(c.FailureAction, swarm.UpdateFailureActionPause)
		c.Order = cmp.Or(c.Order, swarm.UpdateOrderStopFirst)
		*uc = &c
	}
	if spec.EndpointSpec == nil {
		spec.EndpointSpec = &swarm.EndpointSpec{}
	}
	if spec.EndpointSpec.Mode == "" {
		e := *spec.EndpointSpec
		e.Mode = swarm.ResolutionModeVIP
		spec.EndpointSpec = &e
	}
	return spec
}

func (f *fakeEngine) holdAtGate() {
	f.mu.Lock()
	f.inflight++
	f.peakN = max(f.peakN, f.inflight)
	gate := f.gate
	if gate != nil && f.inflight == f.gateN {
		close(gate)
		f.gate = nil
	}
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	f.inflight--
	f.mu.Unlock()
}

func (f *fakeEngine) ServiceCreate(_ context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	f.holdAtGate()
	if err := f.record("ServiceCreate", o.Spec.Name); err != nil {
		return client.ServiceCreateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id("svc")
	f.services[id] = &swarm.Service{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: uint64(f.nextID)}}, Spec: f.networkIDs(engineDefaults(o.Spec))}
	return client.ServiceCreateResult{ID: id}, nil
}

func (f *fakeEngine) ServiceUpdate(_ context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	f.holdAtGate()
	f.mu.Lock()
	s, ok := f.services[id]
	f.mu.Unlock()
	if !ok {
		return client.ServiceUpdateResult{}, errdefs.ErrNotFound.WithMessage("service " + id + " not found")
	}
	if err := f.record("ServiceUpdate", s.Spec.Name); err != nil {
		return client.ServiceUpdateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.Version.Index != s.Version.Index {
		return client.ServiceUpdateResult{}, fmt.Errorf("update out of sequence")
	}
	f.nextID++
	s.Version.Index = uint64(f.nextID)
	if o.Rollback == "previous" {
		if s.PreviousSpec == nil {
			return client.ServiceUpdateResult{}, errors.New("service does not have a previous spec")
		}
		s.Spec, s.PreviousSpec = *s.PreviousSpec, &s.Spec
		s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "manually requested rollback"}
		return client.ServiceUpdateResult{}, nil
	}
	prev := s.Spec
	s.PreviousSpec = &prev
	s.Spec = f.networkIDs(engineDefaults(o.Spec))
	s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}
	switch f.behaviour[s.Spec.Name] {
	case "rollback":
		s.Spec, s.PreviousSpec = prev, &s.Spec
		s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "update rolled back due to failure or early termination of task abc"}
	case "paused":
		s.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure or early termination of task abc"}
	}
	return client.ServiceUpdateResult{}, nil
}

func (f *fakeEngine) ServiceRemove(_ context.Context, id string, _ client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	f.mu.Lock()
	s, ok := f.services[id]
	f.mu.Unlock()
	if !ok {
		return client.ServiceRemoveResult{}, errdefs.ErrNotFound.WithMessage("service " + id + " not found")
	}
	if err := f.record("ServiceRemove", s.Spec.Name); err != nil {
		return client.ServiceRemoveResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, id)
	return client.ServiceRemoveResult{}, nil
}

func (f *fakeEngine) ServiceInspect(_ context.Context, id string, _ client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[id]
	if !ok {
		return client.ServiceInspectResult{}, errdefs.ErrNotFound.WithMessage("service " + id + " not found")
	}
	return client.ServiceInspectResult{Service: *s}, nil
}

// TaskList makes up the tasks of a service from its behaviour: healthy
// services have every replica running, stuck ones have none.
func (f *fakeEngine) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r client.TaskListResult
	for id := range o.Filters["service"] {
		s, ok := f.services[id]
		if !ok {
			continue
		}
		n := uint64(1)
		if m := s.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
			n = *m.Replicas
		}
		if isJob(s.Spec) {
			r.Items = append(r.Items, f.jobTasks(s, len(o.Filters["_up-to-date"]) > 0)...)
			continue
		}
		for slot := range n {
			t := swarm.Task{ID: fmt.Sprintf("%s-task%d", id, slot), ServiceID: id, Slot: int(slot + 1), DesiredState: swarm.TaskStateRunning,
				Status: swarm.TaskStatus{State: swarm.TaskStateRunning}}
			switch f.behaviour[s.Spec.Name] {
			case "stuck":
				t.Status = swarm.TaskStatus{State: swarm.TaskStateStarting, Err: "health check never passed"}
			case "unschedulable":
				t.Status = swarm.TaskStatus{State: swarm.TaskStatePending, Err: "no suitable node (host-mode port already in use on 1 node)"}
			case "rollback", "paused":
				if len(o.Filters["_up-to-date"]) == 0 {
					t.Status = swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)"}
				}
			}
			r.Items = append(r.Items, t)
		}
	}
	slices.SortFunc(r.Items, func(a, b swarm.Task) int { return strings.Compare(a.ID, b.ID) })
	return r, nil
}

// jobRun is how many attempts of a job's spec version have ended.
type jobRun struct {
	version uint64
	ended   int
}

// jobTasks are the tasks of a job (one slot) as swarm leaves them: one
// completed task, or, for a failing or flaky job, its attempts so far, each
// poll of a wait (poll) ending the running one. Swarm starts another
// after a failure unless the restart condition is none or the slot has had
// max_attempts restarts for the spec. Call with f.mu held.
func (f *fakeEngine) jobTasks(s *swarm.Service, poll bool) []swarm.Task {
	task := func(n int, state swarm.TaskState, err string) swarm.Task {
		return swarm.Task{ID: fmt.Sprintf("%s-task1-try%d", s.ID, n), ServiceID: s.ID, Slot: 1, Meta: swarm.Meta{Version: swarm.Version{Index: uint64(n)}},
			DesiredState: swarm.TaskStateComplete, Status: swarm.TaskStatus{State: state, Err: err}}
	}
	failing := map[string]int{"fail": math.MaxInt, "flaky": 2}[f.behaviour[s.Spec.Name]]
	if failing == 0 {
		return []swarm.Task{task(1, swarm.TaskStateComplete, "")}
	}
	restarts := math.MaxInt
	if rp := s.Spec.TaskTemplate.RestartPolicy; rp != nil && rp.Condition == swarm.RestartPolicyConditionNone {
		restarts = 0
	} else if rp != nil && rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
		restarts = int(*rp.MaxAttempts)
	}
	run := f.jobRuns[s.ID]
	if run.version != s.Version.Index {
		run = jobRun{version: s.Version.Index}
	}
	// An attempt runs until the last one completed or swarm restarts no more.
	running := func() bool { return run.ended == 0 || (run.ended <= failing && run.ended <= restarts) }
	if poll && running() {
		run.ended++
	}
	f.jobRuns[s.ID] = run
	var out []swarm.Task
	for n := 1; n <= run.ended; n++ {
		if n <= failing {
			out = append(out, task(n, swarm.TaskStateFailed, "task: non-zero exit (3)"))
		} else {
			out = append(out, task(n, swarm.TaskStateComplete, ""))
		}
	}
	if running() {
		out = append(out, task(run.ended+1, swarm.TaskStateStarting, ""))
	}
	return out
}

// networkIDs stores network attachments by ID, as the engine does. Call with f.mu held.
func (f *fakeEngine) networkIDs(spec swarm.ServiceSpec) swarm.ServiceSpec {
	nets := slices.Clone(spec.TaskTemplate.Networks)
	for i, n := range nets {
		for id, nw := range f.networks {
			if nw.Name == n.Target {
				nets[i].Target = id
			}
		}
	}
	spec.TaskTemplate.Networks = nets
	return spec
}
