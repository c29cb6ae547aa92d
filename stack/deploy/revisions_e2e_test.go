package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

// quietStack is a stack with no tasks to run (replicas 0), so deploys of it
// take the time of the engine's writes only: one service with an env
// variable and a config version per MOTD.
const quietStack = `services:
  web:
    image: ${IMAGE}
    environment:
      VERSION: ${VERSION:-1}
    configs:
      - source: motd
        target: /etc/motd
    deploy:
      replicas: 0
configs:
  motd:
    content: ${MOTD:-hello}
`

// quietSecretStack is quietStack whose web also uses a secret: a version
// per TOKEN.
var quietSecretStack = strings.Replace(quietStack, "    deploy:\n", "    secrets:\n      - token\n    deploy:\n", 1) +
	"secrets:\n  token:\n    environment: TOKEN\n"

// loadQuiet loads doc (quietStack or quietSecretStack) as stack name.
func loadQuiet(t testing.TB, name, doc string, env map[string]string) *compose.Stack {
	t.Helper()
	file := filepath.Join(t.TempDir(), "stack.yml")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := compose.Load(context.Background(), compose.Options{Name: name, Files: []string{file}, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestE2EKeepRevisionsPrunesRecordsNotVersionsTheyUse: --keep-revisions
// removes old records; --prune removes only config and secret versions no
// kept revision uses, and a kept revision can still be restored.
func TestE2EKeepRevisionsPrunesRecordsNotVersionsTheyUse(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	var out bytes.Buffer
	secretOf := map[string]string{} // MOTD -> the secret version its deploy recorded
	deploy := func(motd string, keep int) {
		t.Helper()
		o := e.options(t, &out)
		o.Prune, o.KeepVersions, o.Revision = true, 0, &RevisionOptions{Keep: keep}
		env := map[string]string{"IMAGE": e.image, "MOTD": motd, "TOKEN": "token " + motd}
		res, err := Deploy(ctx, e.c, loadQuiet(t, name, quietSecretStack, env), o)
		if err != nil {
			t.Fatalf("deploy %s: %v\n%s", motd, err, out.String())
		}
		revs, err := Revisions(ctx, e.c, name)
		if err != nil {
			t.Fatal(err)
		}
		rev, err := revision.Find(revs, name, res.Revision)
		if err != nil || len(rev.Secrets) != 1 {
			t.Fatalf("deploy %s: revision %d, %v: want one secret version", motd, res.Revision, err)
		}
		secretOf[motd] = rev.Secrets[0]
	}
	secretsOf := func(motds ...string) []string {
		var out []string
		for _, m := range motds {
			out = append(out, secretOf[m])
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	// versions lists the stack's config versions by content and its
	// secret versions by name.
	versions := func() (configs, secrets []string) {
		t.Helper()
		f := make(client.Filters).Add("label", compose.LabelStack+"="+name)
		cs, err := e.c.ConfigList(ctx, client.ConfigListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		ss, err := e.c.SecretList(ctx, client.SecretListOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs.Items {
			configs = append(configs, string(c.Spec.Data))
		}
		for _, s := range ss.Items {
			secrets = append(secrets, s.Spec.Name)
		}
		slices.Sort(configs)
		slices.Sort(secrets)
		return configs, secrets
	}
	records := func() []int {
		t.Helper()
		recs, err := record.List(ctx, e.c, name, record.KindRevision)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, r := range recs {
			got = append(got, r.Seq)
		}
		return got
	}
	for _, m := range []string{"a", "b", "c"} {
		deploy(m, 3)
	}
	configs, secrets := versions()
	if !slices.Equal(configs, []string{"a", "b", "c"}) {
		t.Errorf("versions %v, want a b c: each is used by one of the 3 kept revisions", configs)
	}
	if want := secretsOf("a", "b", "c"); len(want) != 3 || !slices.Equal(secrets, want) {
		t.Errorf("secret versions %v, want %v: each is used by one of the 3 kept revisions", secrets, want)
	}
	deploy("d", 2)
	if got, want := records(), []int{3, 4}; !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	configs, secrets = versions()
	if !slices.Equal(configs, []string{"c", "d"}) {
		t.Errorf("versions %v, want c d", configs)
	}
	if want := secretsOf("c", "d"); len(want) != 2 || !slices.Equal(secrets, want) {
		t.Errorf("secret versions %v, want those of c and d %v", secrets, want)
	}
	o := e.options(t, &out)
	o.Revision = &RevisionOptions{Keep: 2}
	if _, err := RollbackTo(ctx, e.c, name, 3, o); err != nil {
		t.Fatalf("rollback --to 3, the oldest kept revision: %v\n%s", err, out.String())
	}
	// Revision 3 is trimmed now; 5, the rollback to it, is what runs.
	if d, err := Diff(ctx, e.c, name, 5, 0); err != nil || len(d.Changes) != 0 {
		t.Errorf("diff 5 against the live stack after the rollback: %+v, %v", d, err)
	}
	if d, err := Diff(ctx, e.c, name, 4, 5); err != nil || len(d.Changes) != 1 {
		t.Errorf("diff 4 5 should be the config version: %+v, %v", d, err)
	}
	if got := records(); !slices.Equal(got, []int{4, 5}) {
		t.Errorf("records after the rollback %v, want 4 5", got)
	}
}
