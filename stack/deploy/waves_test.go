package deploy

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// serviceWrites are the service creates and updates the engine saw, in order.
func serviceWrites(f *fakeEngine) []string {
	var out []string
	for _, w := range f.writes() {
		if strings.HasPrefix(w, "ServiceCreate ") || strings.HasPrefix(w, "ServiceUpdate ") {
			out = append(out, w)
		}
	}
	return out
}

func TestWavesWriteInDependencyOrder(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	res, err := Deploy(context.Background(), f, loadInput(t, "w", "waves.yml", map[string]string{"IMAGE": testImage}), testOptions(&out))
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	want := []string{"ServiceCreate w_db", "ServiceCreate w_migrate", "ServiceCreate w_api", "ServiceCreate w_web"}
	if got := serviceWrites(f); !slices.Equal(got, want) {
		t.Errorf("writes = %v, want %v", got, want)
	}
	if len(res.Waves) != 4 {
		t.Fatalf("result has %d waves, want 4: %+v", len(res.Waves), res.Waves)
	}
	for _, line := range []string{"Wave 2/4: waiting for w_db service_healthy", "Wave 3/4: waiting for w_db service_healthy, w_migrate service_completed_successfully", "Wave 4/4: w_web"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}

func TestWavesRedeployOfWebRunsNoJob(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	if _, err := Deploy(context.Background(), f, loadInput(t, "w", "waves.yml", map[string]string{"IMAGE": testImage}), testOptions(&out)); err != nil {
		t.Fatal(err)
	}
	before := len(f.writes())
	res, err := Deploy(context.Background(), f, loadInput(t, "w", "waves.yml", map[string]string{"IMAGE": testImage, "WEB": "2"}), testOptions(&out))
	if err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	if got, want := f.writes()[before:], []string{"ServiceUpdate w_web"}; !slices.Equal(got, want) {
		t.Errorf("redeploy writes = %v, want %v (no job run again)", got, want)
	}
	if len(res.Waves) != 1 || res.Waves[0].WaitFor[0].Service != "w_api" {
		t.Errorf("waves = %+v, want one wave gated on the unchanged, running w_api", res.Waves)
	}
}

func TestFailedJobStopsLaterWavesAndAtomicRestores(t *testing.T) {
	for _, atomic := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "atomic"}[atomic], func(t *testing.T) {
			f := engineWithImage()
			var out bytes.Buffer
			if _, err := Deploy(context.Background(), f, loadInput(t, "w", "waves.yml", map[string]string{"IMAGE": testImage}), testOptions(&out)); err != nil {
				t.Fatal(err)
			}
			apiV1 := f.serviceByName("w_api").Spec
			f.behaviour["w_migrate"] = "fail"
			before := len(f.writes())
			o := testOptions(&out)
			o.Atomic = atomic
			_, err := Deploy(context.Background(), f, loadInput(t, "w", "waves.yml", map[string]string{"IMAGE": testImage, "VERSION": "2", "WEB": "2"}), o)
			if err == nil || !strings.Contains(err.Error(), "w_migrate") || !strings.Contains(err.Error(), "non-zero exit (3)") {
				t.Fatalf("err = %v, want the job's failure with its exit code", err)
			}
			writes := f.writes()[before:]
			if slices.Contains(writes, "ServiceUpdate w_web") {
				t.Errorf("writes = %v: web was written after the failed job", writes)
			}
			if !slices.Contains(writes, "ServiceUpdate w_migrate") {
				t.Errorf("writes = %v: the changed job did not run", writes)
			}
			restored := !strings.Contains(strings.Join(f.serviceByName("w_migrate").Spec.TaskTemplate.ContainerSpec.Env, ","), "VERSION=2")
			if restored != atomic {
				t.Errorf("migrate restored = %v with atomic %v", restored, atomic)
			}
			if got := f.serviceByName("w_api").Spec.TaskTemplate.ContainerSpec.Env; !slices.Equal(got, apiV1.TaskTemplate.ContainerSpec.Env) {
				t.Errorf("api env = %v, want it untouched %v", got, apiV1.TaskTemplate.ContainerSpec.Env)
			}
		})
	}
}

func TestStackWithoutDependsOnHasNoWaves(t *testing.T) {
	f := engineWithImage()
	var out bytes.Buffer
	res, err := Deploy(context.Background(), f, loadInput(t, "demo", "simple.yml", nil), testOptions(&out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Waves != nil || strings.Contains(out.String(), "Wave") {
		t.Errorf("a stack without depends_on ran waves: %+v\n%s", res.Waves, out.String())
	}
}

// TestFailingJobGateByRestartPolicy: a job gate fails as soon as swarm will
// not run the job again, and after brokenJobAttempts failures when swarm
// would retry it forever; a job that succeeds within them passes.
func TestFailingJobGateByRestartPolicy(t *testing.T) {
	u := func(n uint64) *uint64 { return &n }
	minute := types.Duration(time.Minute)
	cases := []struct {
		name      string
		mode      string // deploy.mode of migrate; replicated-job when empty
		behaviour string
		policy    *types.RestartPolicy
		attempts  int      // attempts of the job the deploy saw end
		want      []string // in the error; none: the deploy succeeds
	}{
		{"swarm's default retries forever", "", "fail", nil, 3, []string{"failed 3 times", "non-zero exit (3)", "sets no max_attempts", "fix the job"}},
		{"any without max_attempts", "", "fail", &types.RestartPolicy{Condition: "any"}, 3, []string{"failed 3 times", "sets no max_attempts"}},
		{"on-failure without max_attempts", "", "fail", &types.RestartPolicy{Condition: "on-failure"}, 3, []string{"failed 3 times", "sets no max_attempts"}},
		{"global job, swarm's default", "global-job", "fail", nil, 3, []string{"failed 3 times", "sets no max_attempts"}},
		{"none", "", "fail", &types.RestartPolicy{Condition: "none"}, 1, []string{"restart condition is none", "non-zero exit (3)"}},
		{"on-failure, max_attempts 1", "", "fail", &types.RestartPolicy{Condition: "on-failure", MaxAttempts: u(1)}, 2, []string{"failed 2 times", "non-zero exit (3)", "allows no more (max_attempts 1)"}},
		{"any, max_attempts 4: more than three", "", "fail", &types.RestartPolicy{Condition: "any", MaxAttempts: u(4)}, 5, []string{"failed 5 times", "max_attempts 4"}},
		{"max_attempts within a window", "", "fail", &types.RestartPolicy{Condition: "on-failure", MaxAttempts: u(2), Window: &minute}, 3, []string{"failed 3 times", "max_attempts 2"}},
		{"flaky, swarm's default", "", "flaky", nil, 3, nil},
		{"flaky, max_attempts 1", "", "flaky", &types.RestartPolicy{Condition: "on-failure", MaxAttempts: u(1)}, 2, []string{"failed 2 times", "max_attempts 1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := engineWithImage()
			f.behaviour["w_migrate"] = c.behaviour
			in := loadInput(t, "w", "waves.yml", map[string]string{"IMAGE": testImage})
			migrate := in.Project.Services["migrate"]
			migrate.Deploy.RestartPolicy = c.policy
			if c.mode != "" {
				migrate.Deploy.Mode = c.mode
			}
			in.Project.Services["migrate"] = migrate
			var out bytes.Buffer
			_, err := Deploy(context.Background(), f, in, testOptions(&out))
			if got := f.jobRuns[f.serviceByName("w_migrate").ID].ended; got != c.attempts {
				t.Errorf("the deploy saw %d attempts of the job end, want %d", got, c.attempts)
			}
			if c.want == nil {
				if err != nil {
					t.Fatalf("deploy: %v\n%s", err, out.String())
				}
				return
			}
			if err == nil {
				t.Fatal("the deploy passed a failed job's gate")
			}
			for _, w := range append(c.want, "w_migrate") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to say %q", err, w)
				}
			}
			if slices.Contains(serviceWrites(f), "ServiceCreate w_api") {
				t.Errorf("writes = %v: api was written after the failed job", serviceWrites(f))
			}
		})
	}
}
