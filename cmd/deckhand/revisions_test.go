package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"

	"github.com/deckhand/deckhand/internal/golden"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

// TestRevisionsGolden covers history, status, diff, rollback --to and the
// promotion flags on command lines that end before any engine write.
func TestRevisionsGolden(t *testing.T) { runGoldenCases(t, "revisions") }

const (
	goldenV1 = "127.0.0.1:5000/app:v1@sha256:9568f1836a21bd8174bf1375794977214216334ba577854faf7b658fd5ef8e3c"
	goldenV2 = "127.0.0.1:5000/app:v2@sha256:4302f5a8eff4c38a468d59144105c7e6ea8c052f6a6362fadadd92c42a30e3ea"
)

func goldenRevisions() []*revision.Revision {
	at := time.Date(2026, 11, 30, 5, 3, 31, 0, time.UTC)
	svc := func(name, image string) swarm.ServiceSpec {
		return swarm.ServiceSpec{Annotations: swarm.Annotations{Name: name}, TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}}}
	}
	laptop := record.Who{User: "alice", Host: "laptop"}
	ci := record.Who{User: "runner", Host: "ci-7", CI: &record.CI{Provider: record.ProviderGitLab, Commit: "3f2a9c1d0e4b5a69788776655", Ref: "main",
		Pipeline: "8812", Job: "40117", Actor: "bob", URL: "https://gitlab.example/acme/app/-/jobs/40117"}}
	return []*revision.Revision{
		{Number: 1, Outcome: revision.OutcomeConverged, Stack: "app", Time: at, Who: laptop, Action: revision.ActionDeploy, Adopted: true,
			Services: map[string]swarm.ServiceSpec{"app_web": svc("app_web", goldenV1), "app_worker": svc("app_worker", goldenV1)}},
		{Number: 2, Outcome: revision.OutcomeNotConverged, Stack: "app", Time: at.Add(time.Hour), Who: ci, Action: revision.ActionDeploy,
			FilesDigest: "sha256:0f1e", Services: map[string]swarm.ServiceSpec{"app_web": svc("app_web", goldenV2)},
			Configs: []string{"app_motd_b49f425a7e"}, Secrets: []string{"app_key_4f7846faf7"}},
		{Number: 3, Outcome: revision.OutcomeConverged, Stack: "app", Time: at.Add(2 * time.Hour), Who: laptop, Action: revision.ActionRollback, From: "1",
			Services: map[string]swarm.ServiceSpec{"app_web": svc("app_web", goldenV1), "app_worker": svc("app_worker", goldenV1)}},
		{Number: 4, Outcome: revision.OutcomeInProgress, Stack: "app", Time: at.Add(3 * time.Hour), Who: ci, Action: revision.ActionDeploy, From: "app@2 on context staging",
			Services: map[string]swarm.ServiceSpec{"app_web": svc("app_web", goldenV2), "app_worker": svc("app_worker", goldenV1)}},
	}
}

func TestHistoryText(t *testing.T) {
	revs := goldenRevisions()
	var b bytes.Buffer
	for _, h := range []*deploy.History{
		{Stack: "app", Before: deploy.OriginAdopted, Revisions: revision.Summarize(revs)},
		{Stack: "app", Before: deploy.OriginPruned, Revisions: revision.Summarize(revs[2:])},
		{Stack: "app", Before: deploy.OriginUnrecorded},
	} {
		if err := writeHistory(&b, h); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n")
	}
	if err := writeRevision(&b, revs[1]); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, b.Bytes(), filepath.Join("testdata", "revisions", "text", "history.golden"))
}

func TestStatusText(t *testing.T) {
	sums := revision.Summarize(goldenRevisions())
	services := []deploy.ServiceState{
		{Service: "app_web", Image: goldenV2, Running: 2, Desired: 2, UpdateState: "completed", Converged: true},
		{Service: "app_worker", Image: goldenV1, Running: 0, Desired: 1, UpdateState: "paused", Converged: false,
			LastError: "task: non-zero exit (1) (task k2j3h4g5f6d7, failed)"},
	}
	var b bytes.Buffer
	for _, st := range []*deploy.Status{
		{Stack: "app", Converged: true, Running: &sums[2], Latest: &sums[2], Revisions: 3, Services: services[:1]},
		{Stack: "app", Converged: false, Running: &sums[2], Latest: &sums[3], Revisions: 4, Services: services},
		{Stack: "app", Converged: false, Latest: &sums[3], Revisions: 4, Services: services},
		{Stack: "app", Converged: true, Services: services[:1]},
	} {
		if err := writeStatus(&b, st, "context default (unix:///var/run/docker.sock)"); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n")
	}
	golden.Assert(t, b.Bytes(), filepath.Join("testdata", "revisions", "text", "status.golden"))
}

func TestDiffText(t *testing.T) {
	revs := goldenRevisions()
	d := &deploy.StackDiff{Stack: "app", From: 1, To: 2, Changes: revision.Compare(revs[0].Services, revs[1].Services)}
	var b bytes.Buffer
	if err := writeDiff(&b, d); err != nil {
		t.Fatal(err)
	}
	if err := writeDiff(&b, &deploy.StackDiff{Stack: "app", From: 3, Changes: []plan.Change{}, Unchanged: 2}); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, b.Bytes(), filepath.Join("testdata", "revisions", "text", "diff.golden"))
}

func TestParseStackRef(t *testing.T) {
	for in, want := range map[string]string{"app": "app 0", "app@7": "app 7", "app@0": "error", "app@x": "error", "-app@1": "error", "a/b": "error"} {
		name, rev, err := parseStackRef(in)
		got := fmt.Sprintf("%s %d", name, rev)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("parseStackRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWhoAmIPrefersTheSudoUserAndReadsCI(t *testing.T) {
	w := whoAmI(map[string]string{"SUDO_USER": "alice", "GITHUB_ACTIONS": "true", "GITHUB_SHA": "abc"})
	if w.User != "alice" || w.Host == "" || w.CI == nil || w.CI.Commit != "abc" {
		t.Errorf("whoAmI = %+v", w)
	}
	if w := whoAmI(map[string]string{}); w.User == "" || w.CI != nil {
		t.Errorf("whoAmI without sudo or CI = %+v", w)
	}
	if s := (record.Who{User: "u", Host: "h"}).String(); !strings.Contains(s, "u@h") {
		t.Error(s)
	}
}
