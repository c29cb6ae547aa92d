package deploy

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
)

// A service whose version swarm moved on after the plan read it (an engine
// restart between two waves did this on a real swarm) is updated over the
// new version when its spec is still the one the plan read; a spec someone
// else changed is an error that says so, and nothing is written.
func TestUpdateServiceOverAVersionSwarmMovedOn(t *testing.T) {
	old := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "app_web"}}
	old.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "web:1"}
	next := old
	next.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "web:2"}
	change := plan.Change{Kind: plan.KindService, Action: plan.ActionUpdate, Name: "app_web", ID: "svc1",
		Version: swarm.Version{Index: 5}, Service: &next, Previous: &old}

	f := newFakeEngine()
	f.services["svc1"] = &swarm.Service{ID: "svc1", Meta: swarm.Meta{Version: swarm.Version{Index: 9}}, Spec: old}
	if err := updateService(context.Background(), f, change, ""); err != nil {
		t.Fatalf("update over a moved version with the same spec: %v", err)
	}
	if got := f.services["svc1"].Spec.TaskTemplate.ContainerSpec.Image; got != "web:2" {
		t.Errorf("image after the update = %q, want web:2", got)
	}

	changed := old
	changed.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Image: "web:hotfix"}
	f.services["svc1"] = &swarm.Service{ID: "svc1", Meta: swarm.Meta{Version: swarm.Version{Index: 9}}, Spec: changed}
	err := updateService(context.Background(), f, change, "")
	if err == nil || !strings.Contains(err.Error(), "someone else changed it") || !strings.Contains(err.Error(), "deckhand plan") {
		t.Fatalf("update of a service changed by someone else: %v, want an error naming it and the fix", err)
	}
	if got := f.services["svc1"].Spec.TaskTemplate.ContainerSpec.Image; got != "web:hotfix" {
		t.Errorf("image after the refused update = %q, want the other writer's web:hotfix", got)
	}
}

// A pull that failed (the engine says "No such image") comes with the fix.
func TestLatestTaskErrorExplainsAFailedPull(t *testing.T) {
	tk := swarm.Task{ID: "abcdefghijklmnop"}
	tk.Status.State, tk.Status.Err = swarm.TaskStateRejected, "No such image: reg:5000/app:v2@sha256:ab"
	got := latestTaskError([]swarm.Task{tk})
	if !strings.HasPrefix(got, "No such image: reg:5000/app:v2@sha256:ab (task abcdefghijkl, rejected)") || !strings.Contains(got, "registry is up") {
		t.Errorf("latestTaskError = %q, want the error, the task and the fix", got)
	}
}

// A plan made before the lock stands only while the live stack is as it
// read it: another run's write (a new version of a service) makes it stale.
func TestCurrentSeesAnotherRunsWrite(t *testing.T) {
	f := engineWithImage()
	ctx := context.Background()
	var out bytes.Buffer
	in := loadInput(t, "demo", "simple.yml", nil)
	if _, err := Deploy(ctx, f, in, testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	prep, err := PrepareFrom(ctx, f, "demo", func() (*compose.Stack, error) { return in, nil }, testOptions(&out))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Current(ctx, f, "demo", prep); err != nil || !ok {
		t.Fatalf("right after the plan: current %v, %v; want true", ok, err)
	}
	f.mu.Lock()
	for _, s := range f.services {
		s.Version.Index += 100 // another run updated it
		break
	}
	f.mu.Unlock()
	if ok, err := Current(ctx, f, "demo", prep); err != nil || ok {
		t.Errorf("after another run's write: current %v, %v; want false", ok, err)
	}
}
