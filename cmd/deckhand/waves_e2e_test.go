package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// wavesStack is issue 15's example: db, a migration job, api, web.
const wavesStack = `services:
  db:
    image: ${IMAGE}
  migrate:
    image: ${IMAGE}
    command: ["-h"]
    healthcheck: {disable: true}
    deploy:
      mode: replicated-job
      restart_policy: {condition: none}
    depends_on:
      db: {condition: service_healthy}
  api:
    image: ${IMAGE}
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  web:
    image: ${IMAGE}
    depends_on: [api]
`

// TestWavesCommandsE2E: plan shows the waves in text and JSON, deploy's
// JSON result has each wave's wait, and a cycle fails before any write.
func TestWavesCommandsE2E(t *testing.T) {
	c, name, _, run := cliStack(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	cycle := filepath.Join(dir, "cycle.yml")
	if err := os.WriteFile(file, []byte(wavesStack), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cycle, []byte(strings.Replace(wavesStack, "  db:\n    image: ${IMAGE}\n", "  db:\n    image: ${IMAGE}\n    depends_on: [web]\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errw := run("deploy", "-c", cycle, name)
	if code != 1 || !strings.Contains(errw, "depends_on cycle ") || !strings.Contains(errw, "cycle.yml:4:5") {
		t.Errorf("deploy of a cycle: exit %d, want 1 naming the cycle and its lines\n%s%s", code, out, errw)
	}
	f := make(client.Filters).Add("label", "com.docker.stack.namespace="+name)
	svcs, serr := c.ServiceList(context.Background(), client.ServiceListOptions{Filters: f})
	nets, nerr := c.NetworkList(context.Background(), client.NetworkListOptions{Filters: f})
	if serr != nil || nerr != nil || len(svcs.Items)+len(nets.Items) != 0 {
		t.Fatalf("a refused cycle wrote %d service(s) and %d network(s) (%v, %v)", len(svcs.Items), len(nets.Items), serr, nerr)
	}

	code, out, errw = run("plan", "-c", file, name)
	if code != 0 || !strings.Contains(out, "  3. "+name+"_api  after "+name+"_db service_healthy, "+name+"_migrate service_completed_successfully\n") {
		t.Errorf("plan: exit %d, want the waves\n%s%s", code, out, errw)
	}
	var pl struct {
		Waves []struct {
			Services []string `json:"services"`
		} `json:"waves"`
	}
	code, out, errw = run("plan", "--format", "json", "-c", file, name)
	if err := json.Unmarshal([]byte(out), &pl); code != 0 || err != nil || len(pl.Waves) != 4 {
		t.Errorf("plan --format json: exit %d, %v, waves %+v\n%s%s", code, err, pl.Waves, out, errw)
	}

	code, out, errw = run("deploy", "--with-registry-auth", "--format", "json", "--timeout", "3m", "-c", file, name)
	var res struct {
		Outcome string `json:"outcome"`
		Waves   []struct {
			Services    []string `json:"services"`
			WaitSeconds float64  `json:"wait_seconds"`
		} `json:"waves"`
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || res.Outcome != "converged" || len(res.Waves) != 4 || res.Waves[1].WaitSeconds <= 0 {
		t.Fatalf("deploy: exit %d, %v, result %+v\n%s%s", code, err, res, out, errw)
	}
	if !strings.Contains(errw, "Wave 2/4: waiting for "+name+"_db service_healthy") {
		t.Errorf("deploy progress is not grouped by wave:\n%s", errw)
	}
}
