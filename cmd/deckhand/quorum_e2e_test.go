package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
)

// setQuorumNodeLabel sets (or, with value "", removes) a label on a node,
// retrying when another writer updated the node in between.
func setQuorumNodeLabel(ctx context.Context, c *client.Client, nodeID, key, value string) error {
	var err error
	for range 5 {
		var res client.NodeInspectResult
		res, err = c.NodeInspect(ctx, nodeID, client.NodeInspectOptions{})
		if err != nil {
			return err
		}
		spec := res.Node.Spec
		spec.Labels = maps.Clone(spec.Labels)
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		if value == "" {
			delete(spec.Labels, key)
		} else {
			spec.Labels[key] = value
		}
		_, err = c.NodeUpdate(ctx, nodeID, client.NodeUpdateOptions{Version: res.Node.Version, Spec: spec})
		if err == nil || !strings.Contains(err.Error(), "out of sequence") {
			return err
		}
	}
	return err
}

// TestQuorumLiveE2E runs `deckhand quorum` against the real swarm of the
// test environment, with the zone read from a label set for this test.
func TestQuorumLiveE2E(t *testing.T) {
	c := testenv.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	self := info.Info.Swarm.NodeID
	label := "deckhand.test.zone." + testenv.UniqueName(t)
	if err := setQuorumNodeLabel(ctx, c, self, label, "zone-a"); err != nil {
		t.Fatalf("label node %s: %v", self, err)
	}
	t.Cleanup(func() {
		if err := setQuorumNodeLabel(context.Background(), c, self, label, ""); err != nil {
			t.Errorf("remove label %s from node %s: %v", label, self, err)
		}
	})
	t.Setenv("DOCKER_HOST", c.DaemonHost())

	var stdout, stderr bytes.Buffer
	code := newCLI(strings.NewReader(""), &stdout, &stderr).run([]string{"deckhand", "quorum", "--p", "0.01", "--zone-label", label, "--zone-p", "0.001", "--format", "json"})
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	var got struct {
		HasQuorum bool `json:"has_quorum"`
		Managers  []struct {
			ID, State, Zone string
		} `json:"managers"`
		Up           int            `json:"up"`
		FailuresLeft int            `json:"failures_left"`
		Zones        map[string]int `json:"zones_up"`
		Loss         *struct {
			Value json.Number `json:"value"`
		} `json:"loss"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if !got.HasQuorum || len(got.Managers) != info.Info.Swarm.Managers || got.Loss == nil {
		t.Errorf("output = %s", stdout.String())
	}
	found := false
	for _, m := range got.Managers {
		if m.ID == self {
			found = true
			if m.Zone != "zone-a" || (m.State != "leader" && m.State != "reachable") {
				t.Errorf("own node: zone %q state %q, want zone-a and up", m.Zone, m.State)
			}
		}
	}
	if !found || got.Zones["zone-a"] != 1 {
		t.Errorf("node %s in zone-a not reported:\n%s", self, stdout.String())
	}
	if info.Info.Swarm.Managers == 1 {
		// One manager: p itself, and the warning that nothing can fail.
		if got.Loss.Value != "0.01" || got.FailuresLeft != 0 {
			t.Errorf("single manager: loss %s, %d failures left; want 0.01 and 0", got.Loss.Value, got.FailuresLeft)
		}
	}

	// The readable table says the same.
	stdout.Reset()
	stderr.Reset()
	code = newCLI(strings.NewReader(""), &stdout, &stderr).run([]string{"deckhand", "quorum", "--zone-label", label})
	if code != 0 || !strings.Contains(stdout.String(), "zone-a") || !strings.Contains(stdout.String(), "failures left") {
		t.Errorf("exit %d, table output:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
}

// BenchmarkQuorumLiveVsDockerNodeLs runs `deckhand quorum --format json`
// and its docker peer, `docker node ls --filter role=manager`, as
// processes against the same engine, and reports both times and their ratio.
func BenchmarkQuorumLiveVsDockerNodeLs(b *testing.B) {
	c := testenv.Engine(b)
	docker, err := exec.LookPath("docker")
	if err != nil {
		testenv.Unavailable(b, "docker client: %v", err)
	}
	bin := filepath.Join(b.TempDir(), "deckhand")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "DOCKER_HOST="+c.DaemonHost())
	run := func(name string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return time.Since(start)
	}
	var ours, theirs time.Duration
	for b.Loop() {
		ours += run(bin, "quorum", "--p", "0.01", "--format", "json")
		theirs += run(docker, "node", "ls", "--filter", "role=manager")
	}
	n := float64(b.N)
	b.ReportMetric(float64(ours.Nanoseconds())/n, "deckhand-ns/op")
	b.ReportMetric(float64(theirs.Nanoseconds())/n, "docker-ns/op")
	b.ReportMetric(float64(ours)/float64(theirs), "deckhand/docker")
}
