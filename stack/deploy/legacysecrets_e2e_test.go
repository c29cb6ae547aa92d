package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/compose"
)

// TestE2ELegacySecretMovesOverWithoutRestart is the secret migration on the
// real engine: a stack whose secret version an older deckhand named and
// labelled by the plain sha256 of its content is redeployed with the same
// secret. The service is not written and its task keeps running; the live
// version keeps its name and loses the plain sha256 (swarm lets a secret's
// labels change, not its data).
func TestE2ELegacySecretMovesOverWithoutRestart(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	env := map[string]string{"TOKEN": "hunter2-" + name}
	var out bytes.Buffer
	if _, err := Deploy(ctx, e.c, e.input(t, name, "secret.yml", env), e.options(t, &out)); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out.String())
	}

	// What an older deckhand left: the version named and labelled by the
	// plain sha256, referenced by the service (set up by hand).
	sum := sha256.Sum256([]byte(env["TOKEN"]))
	plain := hex.EncodeToString(sum[:])
	legacy := name + "_token_" + plain[:10]
	current := stackSecrets(t, e.c, name)
	if len(current) != 1 {
		t.Fatalf("secrets after the first deploy: %v, want one version", current)
	}
	labels := maps.Clone(current[0].Spec.Labels)
	labels[compose.LabelHash] = plain
	created, err := e.c.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{
		Annotations: swarm.Annotations{Name: legacy, Labels: labels}, Data: []byte(env["TOKEN"])}})
	if err != nil {
		t.Fatal(err)
	}
	svc := stackServices(t, e.c, name)["api"]
	spec := svc.Spec
	refs := spec.TaskTemplate.ContainerSpec.Secrets
	refs[0].SecretID, refs[0].SecretName = created.ID, legacy
	if _, err := e.c.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, e, name)
	if _, err := e.c.SecretRemove(ctx, current[0].ID, client.SecretRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	version := stackServices(t, e.c, name)["api"].Version.Index
	tasks := taskIDs(t, e.c, name)

	out.Reset()
	if _, err := Deploy(ctx, e.c, e.input(t, name, "secret.yml", env), e.options(t, &out)); err != nil {
		t.Fatalf("deploy over the legacy version: %v\n%s", err, out.String())
	}
	if v := stackServices(t, e.c, name)["api"].Version.Index; v != version {
		t.Errorf("the service was written (version %d -> %d):\n%s", version, v, out.String())
	}
	if after := taskIDs(t, e.c, name); !slices.Equal(after, tasks) {
		t.Errorf("the task restarted: %v -> %v", tasks, after)
	}
	after := stackSecrets(t, e.c, name)
	if len(after) != 1 || after[0].Spec.Name != legacy || strings.Contains(after[0].Spec.Labels[compose.LabelHash], plain) {
		t.Errorf("secret versions after the move: %+v; want %s kept, without the plain sha256 in its label", after, legacy)
	}
}

// stackSecrets lists the stack's secrets.
func stackSecrets(t *testing.T, c *client.Client, stack string) []swarm.Secret {
	t.Helper()
	res, err := c.SecretList(context.Background(), client.SecretListOptions{
		Filters: make(client.Filters).Add("label", "com.docker.stack.namespace="+stack)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// waitConverged waits until the stack's services run their current spec.
func waitConverged(t *testing.T, e *e2e, stack string) {
	t.Helper()
	ids := map[string]string{}
	for n, s := range stackServices(t, e.c, stack) {
		ids[n] = s.ID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, r := range Wait(ctx, e.c, ids, WaitOptions{}) {
		if r.Outcome != OutcomeConverged {
			t.Fatalf("service %s: %s %s", r.Name, r.Outcome, r.Message)
		}
	}
}
