package revision

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
)

const (
	imgV1 = "127.0.0.1:5000/app:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	imgV2 = "127.0.0.1:5000/app:v2@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// spec is a service spec with an image, a network by ID, and a config and
// a secret reference with IDs, as the engine returns them.
func spec(name, image string) swarm.ServiceSpec {
	return swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: image,
				Configs: []*swarm.ConfigReference{{ConfigID: "cfgid", ConfigName: name + "_conf_aaaa"}},
				Secrets: []*swarm.SecretReference{{SecretID: "secid", SecretName: name + "_key_bbbb"}}},
			Networks: []swarm.NetworkAttachmentConfig{{Target: "netid"}}}}
}

func TestNewIsTheStackAfterThePlan(t *testing.T) {
	live := &plan.Live{Services: []swarm.Service{
		{Spec: spec("app_web", imgV1)}, {Spec: spec("app_gone", imgV1)}, {Spec: spec("app_same", imgV1)}}}
	upd, created := spec("app_web", imgV2), spec("app_new", imgV2)
	p := &plan.Plan{Stack: "app", Changes: []plan.Change{
		{Kind: plan.KindService, Name: "app_web", Action: plan.ActionUpdate, Service: &upd},
		{Kind: plan.KindService, Name: "app_new", Action: plan.ActionCreate, Service: &created},
		{Kind: plan.KindService, Name: "app_gone", Action: plan.ActionRemove},
		{Kind: plan.KindConfig, Name: "app_conf_cccc", Action: plan.ActionCreate},
	}}
	at := time.Date(2026, 11, 30, 5, 0, 0, 0, time.FixedZone("CET", 3600))
	r := New(Input{Stack: "app", Time: at, Who: record.Who{User: "alice"}, Action: ActionDeploy, First: true, Plan: p, Live: live,
		NetworkNames: map[string]string{"netid": "app_default"}})
	if got := slices.Sorted(maps.Keys(r.Services)); !slices.Equal(got, []string{"app_new", "app_same", "app_web"}) {
		t.Fatalf("services = %v", got)
	}
	if img := r.Images()["app_web"]; img != imgV2 {
		t.Errorf("app_web image = %s, want the update's", img)
	}
	for name, s := range r.Services {
		cs := s.TaskTemplate.ContainerSpec
		if cs.Configs[0].ConfigID != "" || cs.Secrets[0].SecretID != "" || s.TaskTemplate.Networks[0].Target != "app_default" {
			t.Errorf("%s is not cleaned: %+v %+v %+v", name, cs.Configs[0], cs.Secrets[0], s.TaskTemplate.Networks)
		}
	}
	if live.Services[0].Spec.TaskTemplate.ContainerSpec.Configs[0].ConfigID != "cfgid" {
		t.Error("New changed the live specs it was given")
	}
	if want := []string{"app_new_conf_aaaa", "app_same_conf_aaaa", "app_web_conf_aaaa"}; !slices.Equal(r.Configs, want) {
		t.Errorf("configs = %v, want %v", r.Configs, want)
	}
	if want := []string{"app_new_key_bbbb", "app_same_key_bbbb", "app_web_key_bbbb"}; !slices.Equal(r.Secrets, want) {
		t.Errorf("secrets = %v, want %v", r.Secrets, want)
	}
	if !r.Adopted {
		t.Error("the first revision of a stack that had services is not marked adopted")
	}
	if r.Time.Location() != time.UTC || !r.Time.Equal(at) {
		t.Errorf("time = %v, want %v in UTC", r.Time, at)
	}
	if fresh := New(Input{Stack: "app", First: true, Plan: p, Live: &plan.Live{}}); fresh.Adopted {
		t.Error("the first revision of a new stack is marked adopted")
	}
}

func TestCompareAndRunning(t *testing.T) {
	a := map[string]swarm.ServiceSpec{"app_web": spec("app_web", imgV1), "app_old": spec("app_old", imgV1)}
	b := map[string]swarm.ServiceSpec{"app_web": spec("app_web", imgV2), "app_new": spec("app_new", imgV1)}
	var got []string
	for _, c := range Compare(a, b) {
		got = append(got, fmt.Sprintf("%s %s %d", c.Action, c.Name, len(c.Diff)))
	}
	if want := []string{"create app_new 0", "remove app_old 0", "update app_web 1"}; !slices.Equal(got, want) {
		t.Errorf("Compare = %v, want %v", got, want)
	}
	if d := Compare(a, a); len(d) != 0 {
		t.Errorf("Compare of equal sides = %v", d)
	}
	revs := []*Revision{{Number: 1, Services: a}, {Number: 2, Services: b}, {Number: 3, Services: a, Partial: true}}
	if r := Running(revs, a); r == nil || r.Number != 1 {
		t.Errorf("Running = %+v, want revision 1 (3 is partial)", r)
	}
	if r := Running(revs, map[string]swarm.ServiceSpec{}); r != nil {
		t.Errorf("Running of an empty stack = %d", r.Number)
	}
}

func TestSummarizeListsImageChanges(t *testing.T) {
	one := map[string]swarm.ServiceSpec{"app_web": spec("app_web", imgV1), "app_worker": spec("app_worker", imgV1)}
	two := map[string]swarm.ServiceSpec{"app_web": spec("app_web", imgV2)}
	ci := &record.CI{Provider: record.ProviderGitLab, Commit: "0123456789abcdef"}
	revs := []*Revision{
		{Number: 1, Action: ActionDeploy, Services: one, Outcome: OutcomeConverged},
		{Number: 2, Action: ActionDeploy, From: "app@1 on context staging", Services: two, Who: record.Who{CI: ci}, Outcome: OutcomeFailed},
		{Number: 3, Action: ActionRollback, From: "1", Services: one, Outcome: OutcomeConverged},
	}
	sums := Summarize(revs)
	text := func(cs []ImageChange) string {
		var parts []string
		for _, c := range cs {
			parts = append(parts, c.Service+"="+ShortImage(c.Image))
		}
		return strings.Join(parts, " ")
	}
	for i, want := range []struct{ images, describe, commit string }{
		{"app_web=app:v1@111111111111 app_worker=app:v1@111111111111", "deploy", ""},
		{"app_web=app:v2@222222222222 app_worker=", "deploy, images from app@1 on context staging", "0123456789ab"},
		{"app_web=app:v1@111111111111 app_worker=app:v1@111111111111", "rollback to 1", ""},
	} {
		if got := text(sums[i].ImagesChanged); got != want.images {
			t.Errorf("revision %d images changed = %q, want %q", i+1, got, want.images)
		}
		if got := sums[i].Describe(); got != want.describe {
			t.Errorf("revision %d describe = %q, want %q", i+1, got, want.describe)
		}
		if sums[i].Commit != want.commit {
			t.Errorf("revision %d commit = %q, want %q", i+1, sums[i].Commit, want.commit)
		}
	}
}

// noise is text that does not compress.
func noise(n int) string {
	var b strings.Builder
	x := uint64(7)
	for b.Len() < n {
		x = x*6364136223846793005 + 1442695040888963407
		fmt.Fprintf(&b, "%016x", x)
	}
	return b.String()
}

func TestEncodeDropsWhatDoesNotFit(t *testing.T) {
	small := map[string]swarm.ServiceSpec{"app_web": spec("app_web", imgV1)}
	r := &Revision{Schema: Schema, Stack: "app", Services: small, Rendered: noise(2 * record.MaxData)}
	data, err := Encode(r)
	if err != nil || r.Rendered != "" || r.Partial || len(data) > record.MaxData {
		t.Fatalf("rendered too large: err %v, rendered kept %v, partial %v", err, r.Rendered != "", r.Partial)
	}
	big := spec("app_web", imgV1)
	big.TaskTemplate.ContainerSpec.Env = []string{"BLOB=" + noise(2*record.MaxData)}
	r = &Revision{Schema: Schema, Stack: "app", Services: map[string]swarm.ServiceSpec{"app_web": big}, Configs: []string{"app_conf_1"}}
	if _, err := Encode(r); err != nil || !r.Partial || r.Services != nil || len(r.Configs) != 1 {
		t.Fatalf("specs too large: err %v, partial %v, services %d, configs %v", err, r.Partial, len(r.Services), r.Configs)
	}
	// A typical revision round-trips.
	r = &Revision{Schema: Schema, Stack: "app", Services: small, Networks: map[string]client.NetworkCreateOptions{"app_default": {Driver: "overlay"}}}
	data, err = Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(record.Record{Name: "app.rev.4", Stack: "app", Seq: 4, State: "converged", Data: data})
	if err != nil || back.Number != 4 || back.Outcome != OutcomeConverged || len(Compare(back.Services, small)) != 0 || back.Networks["app_default"].Driver != "overlay" {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestDecodeRefusesANewerSchema(t *testing.T) {
	data, _ := record.Encode(map[string]int{"schema": Schema + 1})
	_, err := Decode(record.Record{Name: "app.rev.1", Stack: "app", Seq: 1, Data: data})
	if err == nil || !strings.Contains(err.Error(), "newer deckhand") {
		t.Errorf("err = %v", err)
	}
}

func TestFindSaysWhichRevisionsThereAre(t *testing.T) {
	revs := []*Revision{{Number: 4}, {Number: 9}}
	if r, err := Find(revs, "app", 9); err != nil || r.Number != 9 {
		t.Errorf("Find 9 = %v, %v", r, err)
	}
	if _, err := Find(revs, "app", 2); err == nil || !strings.Contains(err.Error(), "revisions 4 to 9") {
		t.Errorf("err = %v", err)
	}
	if _, err := Find(nil, "app", 1); err == nil || !strings.Contains(err.Error(), "no recorded revisions") {
		t.Errorf("err = %v", err)
	}
}

func TestInUse(t *testing.T) {
	c, s := InUse([]*Revision{{Configs: []string{"a", "b"}}, {Configs: []string{"b", "c"}, Secrets: []string{"k"}}})
	if !slices.Equal(slices.Sorted(maps.Keys(c)), []string{"a", "b", "c"}) || !s["k"] {
		t.Errorf("InUse = %v %v", c, s)
	}
}

func TestRenderPinnedPinsEveryImage(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: 127.0.0.1:5000/app:v1\n  cron:\n    image: 127.0.0.1:5000/app:v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := compose.Load(context.Background(), compose.Options{Name: "app", Files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := RenderPinned(st, map[string]string{"app_web": imgV2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "image: "+imgV2) || !strings.Contains(string(doc), "image: 127.0.0.1:5000/app:v1\n") {
		t.Errorf("rendered:\n%s", doc)
	}
	if st.Project.Services["web"].Image != "127.0.0.1:5000/app:v1" {
		t.Error("RenderPinned changed the stack it was given")
	}
	if !strings.HasPrefix(st.FilesDigest, "sha256:") {
		t.Errorf("files digest = %q", st.FilesDigest)
	}
}

func TestShortImage(t *testing.T) {
	for in, want := range map[string]string{
		imgV1:                       "app:v1@111111111111",
		"nginx:1.27":                "nginx:1.27",
		"ghcr.io/a/b/c:d@sha256:12": "c:d@12",
	} {
		if got := ShortImage(in); got != want {
			t.Errorf("ShortImage(%q) = %q, want %q", in, got, want)
		}
	}
}
