package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/deckhand/deckhand/internal/golden"
	"github.com/deckhand/deckhand/stack/swarmspec"
	"github.com/moby/moby/api/types/swarm"
	"reflect"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/stack/compose"
)

// issueStack is the example of issue 15: db, migrate (a job), api, web.
var issueStack = map[string][]compose.Dependency{
	"migrate": {{Service: "db", Condition: compose.ConditionHealthy}},
	"api": {
		{Service: "db", Condition: compose.ConditionHealthy},
		{Service: "migrate", Condition: compose.ConditionCompleted},
	},
	"web": {{Service: "api", Condition: compose.ConditionHealthy}},
}

func TestWaves(t *testing.T) {
	healthy := func(s string) Gate { return Gate{Service: s, Condition: compose.ConditionHealthy} }
	tests := []struct {
		name    string
		deps    map[string][]compose.Dependency
		changed []string
		want    []Wave
	}{
		{"no depends_on: one parallel write", nil, []string{"a", "b"}, nil},
		{"nothing changed", issueStack, nil, nil},
		{"all changed: four waves", issueStack, []string{"web", "api", "migrate", "db", "cache"}, []Wave{
			{Services: []string{"cache", "db"}},
			{Services: []string{"migrate"}, WaitFor: []Gate{healthy("db")}},
			{Services: []string{"api"}, WaitFor: []Gate{healthy("db"), {Service: "migrate", Condition: compose.ConditionCompleted}}},
			{Services: []string{"web"}, WaitFor: []Gate{healthy("api")}},
		}},
		{"only web changed: one wave gated on the unchanged api", issueStack, []string{"web"}, []Wave{
			{Services: []string{"web"}, WaitFor: []Gate{healthy("api")}},
		}},
		{"db and web changed: web waits for db through the unchanged api", issueStack, []string{"db", "web"}, []Wave{
			{Services: []string{"db"}},
			{Services: []string{"web"}, WaitFor: []Gate{healthy("api")}},
		}},
		{"api and web changed, no job runs", issueStack, []string{"api", "web"}, []Wave{
			{Services: []string{"api"}, WaitFor: []Gate{healthy("db"), {Service: "migrate", Condition: compose.ConditionCompleted}}},
			{Services: []string{"web"}, WaitFor: []Gate{healthy("api")}},
		}},
		{"changed services without dependencies among them", map[string][]compose.Dependency{"b": {{Service: "a", Condition: compose.ConditionStarted}}},
			[]string{"c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Waves(tt.deps, tt.changed); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Waves = %+v\nwant    %+v", got, tt.want)
			}
		})
	}
}

func TestWavesSurviveACycle(t *testing.T) {
	deps := map[string][]compose.Dependency{"a": {{Service: "b"}}, "b": {{Service: "a"}}}
	if got := Waves(deps, []string{"a", "b"}); len(got) == 0 {
		t.Errorf("Waves over a cycle = %v, want some order and no endless loop", got)
	}
}

func TestWriteTextShowsWaves(t *testing.T) {
	p := &Plan{Stack: "app", Unchanged: []string{"app_cache"}}
	for _, s := range []string{"app_api", "app_db", "app_migrate", "app_web"} {
		p.Changes = append(p.Changes, Change{Kind: KindService, Name: s, Action: ActionCreate})
	}
	deps := map[string][]compose.Dependency{}
	for k, ds := range issueStack {
		for _, d := range ds {
			d.Service = "app_" + d.Service
			deps["app_"+k] = append(deps["app_"+k], d)
		}
	}
	p.Waves = Waves(deps, changedServices(p.Changes))
	var text bytes.Buffer
	if err := p.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, text.Bytes(), "testdata/waves.txt")
	js, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, append(js, '\n'), "testdata/waves.json")
}

// BenchmarkPlanWithoutDependsOn is Make over a 50-service stack without
// depends_on, the benchmark stack's shape: what waves cost it (nothing
// beyond a length check).
func BenchmarkPlanWithoutDependsOn(b *testing.B) {
	d := &swarmspec.Desired{Namespace: "bench", Services: map[string]swarm.ServiceSpec{}}
	for i := range 50 {
		name := fmt.Sprintf("bench_svc%02d", i)
		d.Services[name] = swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "registry/img:1@sha256:" + strings.Repeat("ab", 32)}}}
	}
	for b.Loop() {
		p, err := Make(d, &Live{}, Options{ResolveImage: ResolveNever})
		if err != nil || p.Waves != nil {
			b.Fatal(err, p.Waves)
		}
	}
}
