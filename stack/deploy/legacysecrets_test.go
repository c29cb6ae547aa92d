package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/stack/compose"
)

// A stack whose secret version an older deckhand named and labelled by its
// content's plain sha256 moves over without restarting its service when
// the secret did not change: the live version is kept and relabelled.
func TestLegacySecretVersionIsKeptAndRelabelled(t *testing.T) {
	f := engineWithImage()
	ctx := context.Background()
	env := map[string]string{"IMAGE": testImage, "TOKEN": "hunter2"}
	var out bytes.Buffer
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "secret.yml", env), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	// Turn the live version into what an older deckhand wrote.
	sum := sha256.Sum256([]byte("hunter2"))
	old := hex.EncodeToString(sum[:])
	legacy := "demo_token_" + old[:10]
	f.mu.Lock()
	for id, s := range f.secrets {
		s.Spec.Name = legacy
		s.Spec.Labels[compose.LabelHash] = old
		f.secrets[id] = s
	}
	for _, s := range f.services {
		s.Spec.TaskTemplate.ContainerSpec.Secrets[0].SecretName = legacy
	}
	f.calls = nil
	f.mu.Unlock()

	res, err := Deploy(ctx, f, loadInput(t, "demo", "secret.yml", env), testOptions(&out))
	if err != nil {
		t.Fatal(err)
	}
	calls := strings.Join(f.calls, "\n")
	if strings.Contains(calls, "ServiceUpdate") || strings.Contains(calls, "SecretCreate") {
		t.Errorf("moving over restarted the service or made a new version:\n%s", calls)
	}
	if !slices.Contains(f.calls, "SecretUpdate "+legacy) {
		t.Errorf("the legacy version was not relabelled:\n%s", calls)
	}
	for _, c := range res.Changes {
		if c.Secret != nil && strings.Contains(c.Secret.Labels[compose.LabelHash], old) {
			t.Errorf("the relabelled version keeps the plain sha256: %v", c.Secret.Labels)
		}
	}

	// A changed secret is a new, salted version as usual.
	env["TOKEN"] = "correct horse"
	f.calls = nil
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "secret.yml", env), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	want := "SecretCreate demo_token_" + compose.SecretDigest("demo", "token", []byte("correct horse"))[:10]
	if !slices.Contains(f.calls, want) {
		t.Errorf("calls %v, want %q", f.calls, want)
	}
}
