package nginx

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/testbed"
	"github.com/deckhand/deckhand/internal/testenv"
)

// TestWatchSurvivesEngineRestart restarts the Docker engine while watch runs
// against it: watch must ride out the outage, never leave a config on disk
// that fails nginx -t, and converge once the engine and the tasks are back.
// The engine is a private one-node swarm of the test bed (its own dockerd in
// a network namespace), so the shared engine of the other tests is untouched.
// The engine is stopped cleanly (SIGTERM: its containers stop, and swarm
// starts new tasks on new ports once it is back). A crash (testbed Kill)
// is not covered: on this machine the killed dockerd's containerd blocks
// the restart ("timeout waiting for containerd to start").
func TestWatchSurvivesEngineRestart(t *testing.T) {
	host := testenv.Engine(t)
	bin := testenv.Nginx(t)
	stack := testenv.UniqueName(t)
	image := testenv.BuildImage(t, host, "deckhand-e2e-restart:"+stack)
	bed := testbed.New(t, testbed.Options{Managers: 1})
	ctx := context.Background()
	if err := bed.LoadImages(ctx, host, image); err != nil {
		t.Fatalf("load the test image into the test bed: %v", err)
	}
	c := bed.Client(0)
	up := time.Now()

	n := startNginx(t, bin)
	logs := &syncBuffer{}
	met := NewMetrics()
	runWatch(t, c, n, stack, DefaultTemplate(), e2eTiming, met, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watch logs:\n%s", logs.String())
		}
	})
	id := createWebService(t, c, stack, image, testServicePort, map[string]string{discovery.LabelHost: stack + ".e2e.test"})
	scale(t, c, id, 2)
	upstream := stack + "_web"
	converged := func() bool {
		code, body, err := n.get(stack+".e2e.test", "/")
		return met.Healthy() && err == nil && code == http.StatusOK && bytes.HasPrefix([]byte(body), []byte("hostname=")) &&
			upstreamServers(t, n.Site, upstream) == 2 && len(runningTasks(t, c, id)) == 2
	}
	waitFor(t, 180*time.Second, "2 servers behind nginx", converged)
	t.Logf("converged on 2 servers %v after the test bed was up (it took %v)", time.Since(up), bed.Took)

	// Every config that reaches the disk must pass nginx -t.
	stopCheck := make(chan struct{})
	var wg sync.WaitGroup
	var bad []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last []byte
		for {
			select {
			case <-stopCheck:
				return
			case <-time.After(50 * time.Millisecond):
			}
			cur, err := os.ReadFile(n.Site)
			if err != nil || bytes.Equal(cur, last) {
				continue
			}
			last = cur
			if out, err := exec.Command("sh", "-c", n.TestCmd).CombinedOutput(); err != nil {
				bad = append(bad, fmt.Sprintf("%v: %s\n%s", err, out, cur))
			}
		}
	}()

	for _, restart := range []struct {
		name string
		down func(...int) error
	}{{"stop", bed.Stop}} {
		before := logs.String()
		if err := restart.down(0); err != nil {
			t.Fatalf("%s the engine: %v", restart.name, err)
		}
		waitFor(t, 60*time.Second, "watch to notice the engine is gone ("+restart.name+")", func() bool { return !met.Healthy() })
		if err := bed.Start(0); err != nil {
			t.Fatalf("start the engine after the %s: %v", restart.name, err)
		}
		restarted := time.Now()
		waitFor(t, 240*time.Second, "watch to converge after the engine "+restart.name, converged)
		t.Logf("converged %v after the engine was back", time.Since(restarted))
		if logs.String() == before {
			t.Fatalf("the %s was not logged", restart.name)
		}
	}
	close(stopCheck)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("watch left %d config(s) on disk that fail nginx -t, first:\n%s", len(bad), bad[0])
	}
}
