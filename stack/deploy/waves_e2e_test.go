package deploy

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
)

// firstTaskTimes is when swarm created the first task of each service of
// the stack, by service key.
func firstTaskTimes(t *testing.T, c *client.Client, name string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for key, svc := range stackServices(t, c, name) {
		r, err := c.TaskList(context.Background(), client.TaskListOptions{Filters: make(client.Filters).Add("service", svc.ID)})
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range r.Items {
			if at, ok := out[key]; !ok || task.CreatedAt.Before(at) {
				out[key] = task.CreatedAt
			}
		}
	}
	return out
}

// TestE2EWaves is the stack of issue 15 on the real swarm: db (healthcheck),
// migrate (a job), api (db healthy, migrate completed), web (api healthy).
func TestE2EWaves(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	var out bytes.Buffer
	start := time.Now()
	res, err := Deploy(context.Background(), e.c, e.input(t, name, "waves.yml", nil), e.options(t, &out))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	total := time.Since(start)
	var waits float64
	for _, w := range res.Waves {
		waits += w.WaitSeconds
	}
	t.Logf("4-wave deploy took %s; its gates waited %.1fs in all: %+v", total.Round(time.Millisecond), waits, res.Waves)
	times := firstTaskTimes(t, e.c, name)
	order := []string{"db", "migrate", "api", "web"}
	for i := 1; i < len(order); i++ {
		if !times[order[i-1]].Before(times[order[i]]) {
			t.Errorf("task of %s created at %s, not before %s's at %s: %v", order[i-1], times[order[i-1]], order[i], times[order[i]], times)
		}
	}

	// A redeploy that changes only web runs no job and writes only web.
	before := taskIDs(t, e.c, name+"_migrate")
	res, err = Deploy(context.Background(), e.c, e.input(t, name, "waves.yml", map[string]string{"WEB": "2"}), e.options(t, &out))
	if err != nil {
		t.Fatalf("redeploy of web: %v\n%s", err, out.String())
	}
	if len(res.Changes) != 1 || res.Changes[0].Name != name+"_web" {
		t.Errorf("redeploy changes = %+v, want web alone", res.Changes)
	}
	if after := taskIDs(t, e.c, name+"_migrate"); !slices.Equal(before, after) {
		t.Errorf("migrate tasks %v became %v: the job ran again", before, after)
	}

	// A failing migration stops api and web; --atomic restores what ran.
	// The job has swarm's default restart policy, which retries it forever:
	// the gate gives up after brokenJobAttempts failures, long before the
	// deploy's 3-minute --timeout.
	apiSpec := stackServices(t, e.c, name)["api"].Spec
	o := e.options(t, &out)
	o.Atomic = true
	start = time.Now()
	res, err = Deploy(context.Background(), e.c, e.input(t, name, "waves.yml", map[string]string{"WEB": "3", "VERSION": "2", "MIGRATE_ARG": "-no-such-flag"}), o)
	took := time.Since(start)
	t.Logf("the deploy with the failing job ended after %s (--timeout %s): %v", took.Round(time.Millisecond), o.Timeout, err)
	if err == nil || exitCode(err) != 1 || res.Outcome != OutcomeFailed {
		t.Fatalf("err = %v (exit %d), outcome %q: want a failed deploy\n%s", err, exitCode(err), res.Outcome, out.String())
	}
	for _, want := range []string{name + "_migrate", "exit (2)", fmt.Sprintf("failed %d times", brokenJobAttempts)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to say %q", err, want)
		}
	}
	if took > time.Minute {
		t.Errorf("the failing job stopped the deploy after %s, want well before its %s --timeout", took, o.Timeout)
	}
	svcs := stackServices(t, e.c, name)
	if got := svcs["api"].Spec.TaskTemplate.ContainerSpec.Env; !slices.Equal(got, apiSpec.TaskTemplate.ContainerSpec.Env) {
		t.Errorf("api env = %v, want it untouched %v", got, apiSpec.TaskTemplate.ContainerSpec.Env)
	}
	if env := strings.Join(svcs["migrate"].Spec.TaskTemplate.ContainerSpec.Env, ","); strings.Contains(env, "VERSION=2") {
		t.Errorf("--atomic left the failed migration's spec: %s", env)
	}
	if env := strings.Join(svcs["web"].Spec.TaskTemplate.ContainerSpec.Env, ","); !strings.Contains(env, "WEB=2") {
		t.Errorf("web was written after the failed job: %s", env)
	}
}

// TestE2EAtomicRestoresEveryWave: a deploy that wrote waves 1 (db) and 2
// (migrate) and fails in wave 3 (api never becomes healthy) restores, with
// --atomic, what every wave changed.
func TestE2EAtomicRestoresEveryWave(t *testing.T) {
	e := newE2E(t)
	name := testenv.UniqueName(t)
	removeStackOnCleanup(t, e.c, name)
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), e.c, e.input(t, name, "waves.yml", nil), e.options(t, &out)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	before := stackServices(t, e.c, name)
	o := e.options(t, &out)
	o.Atomic = true
	o.Timeout = 90 * time.Second
	start := time.Now()
	_, err := Deploy(context.Background(), e.c, e.input(t, name, "waves.yml", map[string]string{"DB": "2", "VERSION": "2", "API_UNHEALTHY": "1", "WEB": "2"}), o)
	t.Logf("the deploy failing in wave 3 ended after %s: %v", time.Since(start).Round(time.Millisecond), err)
	if err == nil || !strings.Contains(err.Error(), "wave 4 of 4") || !strings.Contains(err.Error(), name+"_api") {
		t.Fatalf("err = %v, want wave 4 held back by api\n%s", err, out.String())
	}
	after := stackServices(t, e.c, name)
	env := func(spec *swarm.ServiceSpec) []string {
		if spec == nil {
			return nil
		}
		return spec.TaskTemplate.ContainerSpec.Env
	}
	for key, written := range map[string]string{"db": "DB=2", "migrate": "VERSION=2", "api": "VERSION=2"} {
		now, was := after[key].Spec, before[key].Spec
		if got, want := env(&now), env(&was); !slices.Equal(got, want) {
			t.Errorf("%s env = %v, want it restored to %v", key, got, want)
		}
		// Its previous spec is the one this deploy wrote: the wave ran.
		if prev := env(after[key].PreviousSpec); !slices.Contains(prev, written) {
			t.Errorf("%s previous env = %v, want the written %s: its wave did not run", key, prev, written)
		}
	}
	if got, want := after["web"].Version, before["web"].Version; got != want {
		t.Errorf("web went from version %d to %d: wave 4 was written", want.Index, got.Index)
	}
}
