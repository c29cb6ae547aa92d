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
    healthcheck: {test: ["CMD", "/db", "-ping"]}
  migrate:
    image: m:1
    deploy: {mode: replicated-job}
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
		"migrate": {{Service: "db", Condition: ConditionHealthy, Position: Position{File: "stack.yml", Line: 9, Column: 7}}},
		"api": {
			{Service: "db", Condition: ConditionHealthy, Position: Position{File: "stack.yml", Line: 13, Column: 7}},
			{Service: "migrate", Condition: ConditionCompleted, Position: Position{File: "stack.yml", Line: 15, Column: 7}},
		},
		"web": {{Service: "api", Condition: ConditionStarted, Position: Position{File: "stack.yml", Line: 19, Column: 5}}},
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

func TestDependsOnUndefinedServiceNamesTheEntry(t *testing.T) {
	for _, c := range []struct{ name, doc, at string }{
		{"short form", "services:\n  a:\n    image: a:1\n    depends_on: [nope]\n", "stack.yml:4:5"},
		{"long form", "services:\n  a:\n    image: a:1\n    depends_on:\n      nope: {condition: service_healthy}\n", "stack.yml:5:7"},
		{"a service with profiles is not deployed", "services:\n  a:\n    image: a:1\n    depends_on:\n      nope: {condition: service_started}\n  nope:\n    image: n:1\n    profiles: [debug]\n", "stack.yml:5:7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadFile(t, c.doc)
			var de *DependencyError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DependencyError", err)
			}
			want := c.at + `: service "a" depends on "nope": it is not a service of the stack (services with profiles are not deployed): add it under services:, or remove the entry`
			if err.Error() != want {
				t.Errorf("err =\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestDependsOnCompletionOfANonJobIsRefused(t *testing.T) {
	_, err := loadFile(t, `services:
  db:
    image: db:1
  migrate:
    image: m:1
    deploy:
      mode: global-job
  api:
    image: api:1
    depends_on:
      db:
        condition: service_completed_successfully
      migrate:
        condition: service_completed_successfully
  web:
    image: web:1
    depends_on:
      api: {condition: service_completed_successfully}
`)
	var de *DependencyError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want a *DependencyError", err)
	}
	want := `stack.yml:11:7: service "api" depends on "db": it waits for "db" to complete (service_completed_successfully), which only a job does: give "db" deploy.mode: replicated-job, or depend on it with condition: service_started or service_healthy
stack.yml:18:7: service "web" depends on "api": it waits for "api" to complete (service_completed_successfully), which only a job does: give "api" deploy.mode: replicated-job, or depend on it with condition: service_started or service_healthy`
	if err.Error() != want {
		t.Errorf("err =\n%s\nwant\n%s", err, want)
	}
}

func TestDependsOnOptionalServiceNotDeployedIsDropped(t *testing.T) {
	st, err := loadFile(t, `services:
  a:
    image: a:1
    depends_on:
      debug: {condition: service_started, required: false}
      b: {condition: service_healthy}
  b:
    image: b:1
  debug:
    image: d:1
    profiles: [debug]
`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Dependency{{Service: "b", Condition: ConditionHealthy, Position: Position{File: "stack.yml", Line: 6, Column: 7}}}; !slices.Equal(st.DependsOn["a"], want) {
		t.Errorf("DependsOn[a] = %+v, want %+v", st.DependsOn["a"], want)
	}
	i := slices.IndexFunc(st.Warnings, func(w Warning) bool { return strings.Contains(w.Message, "does not wait") })
	if i < 0 {
		t.Fatalf("no warning about the dropped entry: %+v", st.Warnings)
	}
	if w := st.Warnings[i]; w.Position != (Position{File: "stack.yml", Line: 5, Column: 7}) || !strings.Contains(w.Message, `"debug"`) {
		t.Errorf("warning = %+v, want it at stack.yml:5:7 naming debug", w)
	}
}

func TestDependsOnHealthOfAServiceWithoutHealthcheck(t *testing.T) {
	head := "services:\n  api:\n    image: api:1\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    image: db:1\n"
	for _, c := range []struct{ name, db, err, warning string }{
		{"disabled", "    healthcheck:\n      disable: true\n", `stack.yml:5:7: service "api" depends on "db": it waits for "db" to be healthy (service_healthy), whose healthcheck is disabled`, ""},
		{"test NONE", "    healthcheck:\n      test: [\"NONE\"]\n", "whose healthcheck is disabled", ""},
		{"none in the file", "", "", `service "api" waits for "db" to be healthy, which has no healthcheck in the file`},
		{"a healthcheck", "    healthcheck:\n      test: [\"CMD\", \"/db\", \"-ping\"]\n", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := loadFile(t, head+c.db)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var warned []string
			for _, w := range st.Warnings {
				if strings.Contains(w.Message, "to be healthy") {
					warned = append(warned, w.Message)
				}
			}
			if c.warning == "" && len(warned) > 0 || c.warning != "" && (len(warned) != 1 || !strings.Contains(warned[0], c.warning)) {
				t.Errorf("health warnings %q, want %q", warned, c.warning)
			}
		})
	}
}
