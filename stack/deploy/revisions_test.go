package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

var testDigest2 = digest.Digest("sha256:" + strings.Repeat("cd", 32))

// recording is testOptions that record revisions, at a fixed time.
func recording(out *bytes.Buffer, keep int) Options {
	o := testOptions(out)
	at := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	o.Revision = &RevisionOptions{Keep: keep, Who: record.Who{User: "alice", Host: "laptop"}, Now: func() time.Time { return at }}
	return o
}

func v2(t *testing.T, motd string) *compose.Stack {
	return loadInput(t, "demo", "simple_v2.yml", map[string]string{"IMAGE": "127.0.0.1:5000/svc:2", "API_TOKEN": "tok", "MOTD": motd})
}

func engineWithTwoImages() *fakeEngine {
	f := engineWithImage()
	f.images["127.0.0.1:5000/svc:2"] = testDigest2
	// Pinned references resolve too (rollback --to checks them).
	f.images[testImage+"@"+testDigest.String()] = testDigest
	f.images["127.0.0.1:5000/svc:2@"+testDigest2.String()] = testDigest2
	return f
}

func history(t *testing.T, f *fakeEngine) *History {
	t.Helper()
	h, err := ReadHistory(context.Background(), f, "demo")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func numbers(h *History) []int {
	var out []int
	for _, s := range h.Revisions {
		out = append(out, s.Number)
	}
	return out
}

func TestDeployRecordsARevisionPerChangeAndNothingForANoOp(t *testing.T) {
	ctx := context.Background()
	f := engineWithTwoImages()
	var out bytes.Buffer
	res, err := Deploy(ctx, f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0))
	if err != nil || res.Revision != 1 {
		t.Fatalf("first deploy: revision %d, %v", res.Revision, err)
	}
	if _, err := Deploy(ctx, f, v2(t, "hello"), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	before := len(f.calls)
	res, err = Deploy(ctx, f, v2(t, "hello"), recording(&out, 0))
	if err != nil || res.Outcome != OutcomeNoChanges || res.Revision != 0 {
		t.Fatalf("no-op: %+v, %v", res, err)
	}
	for _, c := range f.calls[before:] {
		if strings.HasPrefix(c, "Config") {
			t.Errorf("a no-op deploy touched a record: %s", c)
		}
	}
	h := history(t, f)
	if !slices.Equal(numbers(h), []int{1, 2}) || h.Before != OriginCreated {
		t.Fatalf("history = %v, before %q", numbers(h), h.Before)
	}
	r2 := h.Revisions[1]
	if r2.Outcome != revision.OutcomeConverged || r2.Who.String() != "alice@laptop" || r2.Action != revision.ActionDeploy {
		t.Errorf("revision 2 = %+v", r2)
	}
	var changed []string
	for _, c := range r2.ImagesChanged {
		changed = append(changed, c.Service)
	}
	if !slices.Equal(changed, []string{"demo_api", "demo_cron", "demo_extra"}) {
		t.Errorf("revision 2 changed images of %v", changed)
	}
	revs, err := Revisions(ctx, f, "demo")
	if err != nil {
		t.Fatal(err)
	}
	rev := revs[1]
	if got := slices.Sorted(maps.Keys(rev.Services)); !slices.Equal(got, []string{"demo_api", "demo_cron", "demo_extra"}) {
		t.Errorf("revision 2 services = %v", got)
	}
	if img := rev.Images()["demo_api"]; img != "127.0.0.1:5000/svc:2@"+testDigest2.String() {
		t.Errorf("revision 2 pins demo_api to %s", img)
	}
	if len(rev.Configs) != 1 || !strings.HasPrefix(rev.Configs[0], "demo_motd_") {
		t.Errorf("revision 2 configs = %v", rev.Configs)
	}
	if !strings.Contains(rev.Rendered, "image: 127.0.0.1:5000/svc:2@"+testDigest2.String()) {
		t.Errorf("revision 2 rendered:\n%s", rev.Rendered)
	}
	if !strings.HasPrefix(rev.FilesDigest, "sha256:") || rev.FilesDigest == revs[0].FilesDigest {
		t.Errorf("files digests %q, %q", revs[0].FilesDigest, rev.FilesDigest)
	}
}

// TestRevisionNeverHoldsASecretValue: the record names the secret's
// version, never its value, in plain or in base64 (how JSON writes bytes).
func TestRevisionNeverHoldsASecretValue(t *testing.T) {
	ctx := context.Background()
	f := engineWithImage()
	var out bytes.Buffer
	const value = "hunter2-never-recorded"
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "secret.yml", map[string]string{"IMAGE": testImage, "TOKEN": value}), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	recs, err := record.List(ctx, f, "demo", record.KindRevision)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %d, %v", len(recs), err)
	}
	var raw json.RawMessage
	if err := recs[0].Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"demo_token_`)) {
		t.Errorf("the record does not name the secret's version:\n%s", raw)
	}
	for _, v := range []string{value, base64.StdEncoding.EncodeToString([]byte(value))} {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the record holds the secret's value as %q:\n%s", v, raw)
		}
	}
}

func TestFirstRevisionOfAStackDeployedBeforeIsAdopted(t *testing.T) {
	ctx := context.Background()
	f := engineWithTwoImages()
	var out bytes.Buffer
	if h := history(t, f); h.Before != OriginNone {
		t.Errorf("before any deploy: %q", h.Before)
	}
	// As docker stack deploy (or a deckhand without revisions) would.
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	if h := history(t, f); h.Before != OriginUnrecorded || len(h.Revisions) != 0 {
		t.Errorf("unrecorded stack: %q %v", h.Before, numbers(h))
	}
	if _, err := Deploy(ctx, f, v2(t, "hello"), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	if h := history(t, f); h.Before != OriginAdopted || !h.Revisions[0].Adopted {
		t.Errorf("adopted stack: %q %+v", h.Before, h.Revisions)
	}
}

func TestRevisionOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(f *fakeEngine, o *Options)
		outcome revision.Outcome
	}{
		{"converged", func(*fakeEngine, *Options) {}, revision.OutcomeConverged},
		{"detached", func(_ *fakeEngine, o *Options) { o.Wait = false }, revision.OutcomeApplied},
		{"swarm rolled back", func(f *fakeEngine, _ *Options) { f.behaviour["demo_api"] = "rollback" }, revision.OutcomeNotConverged},
		{"atomic undo", func(f *fakeEngine, o *Options) { f.behaviour["demo_api"] = "rollback"; o.Atomic = true }, revision.OutcomeRolledBack},
		{"write failed", func(f *fakeEngine, _ *Options) { f.fail["ServiceCreate demo_extra"] = errors.New("no space") }, revision.OutcomeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := engineWithTwoImages()
			var out bytes.Buffer
			if _, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0)); err != nil {
				t.Fatal(err)
			}
			o := recording(&out, 0)
			tc.setup(f, &o)
			res, _ := Deploy(context.Background(), f, v2(t, "hello"), o)
			h := history(t, f)
			if res.Revision != 2 || len(h.Revisions) != 2 || h.Revisions[1].Outcome != tc.outcome {
				t.Errorf("revision %d, history %+v; want revision 2 %q", res.Revision, h.Revisions, tc.outcome)
			}
		})
	}
}

// A record that cannot be written stops the deploy before its first write.
func TestRecordFailureWritesNothing(t *testing.T) {
	f := engineWithTwoImages()
	f.fail["ConfigCreate demo.rev.1"] = errors.New("raft: no leader")
	var out bytes.Buffer
	res, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0))
	if err == nil || !strings.Contains(err.Error(), "nothing was written") || res.Outcome != OutcomeFailed {
		t.Fatalf("err = %v, outcome %q", err, res.Outcome)
	}
	if w := f.writes(); !slices.Equal(w, []string{"ConfigCreate demo.rev.1"}) {
		t.Errorf("writes = %v, want only the failed record", w)
	}
}

func TestKeepRevisionsTrimsRecordsAndPruneKeepsTheirVersions(t *testing.T) {
	ctx := context.Background()
	f := engineWithTwoImages()
	var out bytes.Buffer
	deploy := func(motd string, keep int) {
		t.Helper()
		o := recording(&out, keep)
		o.Prune, o.KeepVersions = true, 0
		if _, err := Deploy(ctx, f, v2(t, motd), o); err != nil {
			t.Fatalf("deploy %s: %v", motd, err)
		}
	}
	versions := func() []string {
		var out []string
		for _, c := range f.configs {
			if k := c.Spec.Labels[compose.LabelKey]; k != "" {
				out = append(out, string(c.Spec.Data))
			}
		}
		slices.Sort(out)
		return out
	}
	for _, m := range []string{"a", "b", "c"} {
		deploy(m, 3)
	}
	if got := versions(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("with 3 revisions kept, versions %v remain; want a b c (each used by a kept revision)", got)
	}
	deploy("d", 2)
	if got := versions(); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("with 2 revisions kept, versions %v remain; want c d", got)
	}
	h := history(t, f)
	if !slices.Equal(numbers(h), []int{3, 4}) || h.Before != OriginPruned {
		t.Errorf("history = %v, before %q; want 3 4, pruned", numbers(h), h.Before)
	}
}

func TestRollbackToRestoresTheWholeStack(t *testing.T) {
	ctx := context.Background()
	f := engineWithTwoImages()
	var out bytes.Buffer
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := Deploy(ctx, f, v2(t, "hello"), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	res, err := RollbackTo(ctx, f, "demo", 1, recording(&out, 0))
	if err != nil {
		t.Fatalf("rollback --to 1: %v\n%s", err, out.String())
	}
	if res.Outcome != OutcomeConverged || res.Revision != 3 {
		t.Errorf("result = %+v", res)
	}
	if f.serviceByName("demo_extra") != nil {
		t.Error("demo_extra, which revision 1 did not have, is still there")
	}
	d, err := Diff(ctx, f, "demo", 1, 0)
	if err != nil || len(d.Changes) != 0 || d.Unchanged != 2 {
		t.Fatalf("diff 1 live = %+v, %v", d, err)
	}
	h := history(t, f)
	if r3 := h.Revisions[2]; r3.Action != revision.ActionRollback || r3.From != "1" || r3.Describe() != "rollback to 1" {
		t.Errorf("revision 3 = %+v", r3)
	}
	// And forward again: the removed service and the config come back.
	if _, err := RollbackTo(ctx, f, "demo", 2, recording(&out, 0)); err != nil {
		t.Fatalf("rollback --to 2: %v", err)
	}
	if d, err := Diff(ctx, f, "demo", 2, 0); err != nil || len(d.Changes) != 0 {
		t.Fatalf("diff 2 live = %+v, %v", d, err)
	}
	extra := f.serviceByName("demo_extra")
	if extra == nil {
		t.Fatal("demo_extra was not created again")
	}
	api := f.serviceByName("demo_api").Spec.TaskTemplate.ContainerSpec
	if len(api.Configs) != 1 || api.Configs[0].ConfigID == "" || f.configs[api.Configs[0].ConfigID].Spec.Name != api.Configs[0].ConfigName {
		t.Errorf("demo_api's config reference does not point at its version: %+v", api.Configs)
	}
	// Already there: nothing to write, nothing recorded.
	res, err = RollbackTo(ctx, f, "demo", 2, recording(&out, 0))
	if err != nil || res.Outcome != OutcomeNoChanges || res.Revision != 0 {
		t.Errorf("rollback to the running revision: %+v, %v", res, err)
	}
}

func TestRollbackToSaysWhatIsGoneAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := engineWithTwoImages()
	var out bytes.Buffer
	if _, err := Deploy(ctx, f, v2(t, "hello"), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := Deploy(ctx, f, v2(t, "bye"), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	for id, c := range f.configs {
		if string(c.Spec.Data) == "hello" {
			delete(f.configs, id)
		}
	}
	delete(f.images, "127.0.0.1:5000/svc:2@"+testDigest2.String())
	before := len(f.writes())
	_, err := RollbackTo(ctx, f, "demo", 1, recording(&out, 0))
	for _, want := range []string{`config "demo_motd_`, "no longer exists", `image "127.0.0.1:5000/svc:2@sha256:`, "nothing was written"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to say %s", err, want)
		}
	}
	if w := f.writes()[before:]; len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
	if _, err := RollbackTo(ctx, f, "demo", 9, recording(&out, 0)); err == nil || !strings.Contains(err.Error(), "revisions 1 to 2") {
		t.Errorf("unknown revision: %v", err)
	}
}

func TestStackStatus(t *testing.T) {
	ctx := context.Background()
	f := engineWithTwoImages()
	var out bytes.Buffer
	if _, err := StackStatus(ctx, f, "demo"); err == nil || !strings.Contains(err.Error(), "no services") {
		t.Errorf("status of no stack: %v", err)
	}
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	st, err := StackStatus(ctx, f, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Converged || st.Running == nil || st.Running.Number != 1 || st.Latest.Number != 1 || len(st.Services) != 2 {
		t.Fatalf("status = %+v", st)
	}
	f.behaviour["demo_api"] = "stuck"
	st, err = StackStatus(ctx, f, "demo")
	if err != nil {
		t.Fatal(err)
	}
	api := st.Services[0]
	if st.Converged || api.Service != "demo_api" || api.Converged || api.Running != 0 || api.Desired != 1 || !strings.Contains(api.LastError, "health check never passed") {
		t.Errorf("stuck service: %+v", st)
	}
}

func TestImagesFromAndPromote(t *testing.T) {
	ctx := context.Background()
	f := engineWithTwoImages()
	var out bytes.Buffer
	if _, err := Deploy(ctx, f, loadInput(t, "demo", "simple.yml", nil), recording(&out, 0)); err != nil {
		t.Fatal(err)
	}
	pinned := testImage + "@" + testDigest.String()
	for _, rev := range []int{1, 0} {
		images, err := ImagesFrom(ctx, f, "demo", rev)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"api": pinned, "cron": pinned}; !maps.Equal(images, want) {
			t.Errorf("images from revision %d = %v", rev, images)
		}
	}
	images, _ := ImagesFrom(ctx, f, "demo", 1)
	// Promote v2's file (api, cron, extra): extra has no image there.
	src := func() (*compose.Stack, error) { return v2(t, "hello"), nil }
	if _, err := Promote(src, images, "demo@1")(); err == nil || !strings.Contains(err.Error(), "extra") || !strings.Contains(err.Error(), "demo@1") {
		t.Errorf("promotion of a service the source lacks: %v", err)
	}
	src = func() (*compose.Stack, error) {
		return loadInput(t, "prod", "simple.yml", map[string]string{"IMAGE": "127.0.0.1:5000/svc:2"}), nil
	}
	res, err := DeployFrom(ctx, f, "prod", Promote(src, images, "demo@1"), recording(&out, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Services {
		if s.Image != pinned {
			t.Errorf("promoted %s runs %s, want %s", s.Service, s.Image, pinned)
		}
	}
	// Unpinned images cannot be promoted.
	if _, err := Deploy(ctx, f, loadInput(t, "loose", "simple.yml", nil), Options{ResolveImage: plan.ResolveNever, Wait: false}); err != nil {
		t.Fatal(err)
	}
	if _, err := ImagesFrom(ctx, f, "loose", 0); err == nil || !strings.Contains(err.Error(), "without a digest") {
		t.Errorf("unpinned: %v", err)
	}
}
