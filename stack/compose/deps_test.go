package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadFile(t *testing.T, doc string) (*Stack, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stack.yml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(context.Background(), Options{Name: "app", Files: []string{"stack.yml"}, WorkingDir: dir, Environ: map[string]string{}})
}

func TestDependsOnTakenFromProject(t *testing.T) {
	st, err := loadFile(t, `services:
  db:
    image: db:1
  migrate:
    image: m:1
    depends_on:
      db: {condition: service_healthy}
  api:
    image: api:1
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
  web:
    image: web:1
    depends_on: [api]
`)
	if err != nil {
		t.Fatal(err)
	}
	for k, svc := range st.Project.Services {
		if len(svc.DependsOn) > 0 {
			t.Errorf("service %s keeps depends_on in the project: it would reach the rendered stack", k)
		}
	}
	doc, err := st.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "depends_on") {
		t.Errorf("rendered stack has depends_on:\n%s", doc)
	}
	want := map[string][]Dependency{
		"migrate": {{Service: "db", Condition: ConditionHealthy, Position: Position{File: "stack.yml", Line: 7, Column: 7}}},
		"api": {
			{Service: "db", Condition: ConditionHealthy, Position: Position{File: "stack.yml", Line: 11, Column: 7}},
			{Service: "migrate", Condition: ConditionCompleted, Position: Position{File: "stack.yml", Line: 13, Column: 7}},
		},
		"web": {{Service: "api", Condition: ConditionStarted, Position: Position{File: "stack.yml", Line: 17, Column: 5}}},
	}
	for k, w := range want {
		if !slices.Equal(st.DependsOn[k], w) {
			t.Errorf("DependsOn[%s] = %+v, want %+v", k, st.DependsOn[k], w)
		}
	}
	if len(st.DependsOn) != len(want) {
		t.Errorf("DependsOn has %d services, want %d", len(st.DependsOn), len(want))
	}
	var notes int
	for _, w := range st.Warnings {
		if w.Key == "depends_on" {
			notes++
			if !strings.Contains(w.Message, "waves") {
				t.Errorf("depends_on warning does not say what deckhand does: %s", w.Message)
			}
		}
	}
	if notes != 3 {
		t.Errorf("%d depends_on warnings, want 3", notes)
	}
}

func TestDependsOnCycleNamesEveryEdge(t *testing.T) {
	_, err := loadFile(t, `services:
  a:
    image: a:1
    depends_on: [b]
  b:
    image: b:1
    depends_on:
      c: {condition: service_healthy}
  c:
    image: c:1
    depends_on:
      a: {condition: service_started}
  d:
    image: d:1
    depends_on: [a]
`)
	var ce *CycleError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *CycleError", err)
	}
	want := `depends_on cycle a -> b -> c -> a: deckhand cannot order these services; remove one of these entries:
  stack.yml:4:5: service "a" depends on "b"
  stack.yml:8:7: service "b" depends on "c"
  stack.yml:12:7: service "c" depends on "a"`
	if err.Error() != want {
		t.Errorf("err =\n%s\nwant\n%s", err, want)
	}
}

func TestDependsOnSelfIsACycle(t *testing.T) {
	_, err := loadFile(t, "services:\n  a:\n    image: a:1\n    depends_on: [a]\n")
	if err == nil || !strings.Contains(err.Error(), "a -> a") {
		t.Fatalf("err = %v, want a cycle a -> a", err)
	}
}

func TestStrictSwarmAcceptsDependsOn(t *testing.T) {
	dir := t.TempDir()
	doc := "services:\n  a:\n    image: a:1\n    depends_on: [b]\n  b:\n    image: b:1\n"
	if err := os.WriteFile(filepath.Join(dir, "stack.yml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), Options{Name: "app", Files: []string{"stack.yml"}, WorkingDir: dir, StrictSwarm: true}); err != nil {
		t.Fatalf("--strict-swarm refuses depends_on, which deckhand honours: %v", err)
	}
}
