package swarmspec

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/internal/golden"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/moby/moby/client"
)

func loadRich(t *testing.T) *compose.Stack {
	t.Helper()
	st, err := compose.Load(context.Background(), compose.Options{Name: "demo", Files: []string{filepath.Join("testdata", "rich.yml")},
		Environ: map[string]string{"IMAGE": "127.0.0.1:5000/svc:1"}})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConvertRichMatchesGolden(t *testing.T) {
	d, err := Convert(context.Background(), loadRich(t), ObjectIDs{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, append(got, '\n'), filepath.Join("testdata", "rich.convert.golden.json"))
	// docker/cli's default secret target is the secret's key, not /run/secrets/key.
	web := d.Services["demo_web"].TaskTemplate.ContainerSpec
	if got := web.Secrets[0].File.Name; got != "db_password" {
		t.Errorf("secret target = %q, want docker's default %q", got, "db_password")
	}
	if got := web.Configs[0].File.Mode; got != 0o440 {
		t.Errorf("config mode = %o, want 440", got)
	}
}

// TestConversionMakesNoEngineCalls: docker/cli's converter gets a client
// whose every call but the config and secret lookups fails with a message.
func TestConversionMakesNoEngineCalls(t *testing.T) {
	l, err := newIDLookup(ObjectIDs{Configs: map[string]string{"c": "id-c"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ping(context.Background(), client.PingOptions{}); err == nil || !strings.Contains(err.Error(), "teach idLookup") {
		t.Errorf("Ping through the conversion client: err = %v, want the no-engine error", err)
	}
	res, err := l.ConfigList(context.Background(), client.ConfigListOptions{Filters: make(client.Filters).Add("name", "c", "d")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 2 || res.Items[0].ID != "id-c" || res.Items[1].ID != PendingIDPrefix+"d" {
		t.Errorf("config lookup = %+v, want id-c and a pending ID for d", res.Items)
	}
}
