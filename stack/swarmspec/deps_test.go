package swarmspec

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/deckhand/deckhand/stack/compose"
)

// TestDependsOnNeverReachesASpec: the same stack with and without
// depends_on converts to the same specs; only Desired.DependsOn differs.
func TestDependsOnNeverReachesASpec(t *testing.T) {
	convert := func(doc string) *Desired {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "stack.yml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := compose.Load(context.Background(), compose.Options{Name: "app", Files: []string{"stack.yml"}, WorkingDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		d, err := Convert(context.Background(), st, ObjectIDs{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	plain := convert("services:\n  db:\n    image: db:1\n  api:\n    image: api:1\n")
	ordered := convert("services:\n  db:\n    image: db:1\n  api:\n    image: api:1\n    depends_on:\n      db: {condition: service_healthy}\n")
	if !reflect.DeepEqual(plain.Services, ordered.Services) {
		t.Errorf("depends_on changed the specs:\n%+v\n%+v", plain.Services, ordered.Services)
	}
	if plain.DependsOn != nil {
		t.Errorf("DependsOn without depends_on = %v, want nil", plain.DependsOn)
	}
	want := []compose.Dependency{{Service: "app_db", Condition: compose.ConditionHealthy, Position: compose.Position{File: "stack.yml", Line: 7, Column: 7}}}
	if got := ordered.DependsOn["app_api"]; !reflect.DeepEqual(got, want) {
		t.Errorf("DependsOn[app_api] = %+v, want %+v", got, want)
	}
}
