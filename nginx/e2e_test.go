package nginx

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/testenv"
)

// testServicePort is where testenv's test image listens ($PORT default).
const testServicePort = 8080

// e2eTiming is DefaultTiming with a shorter slow poll, so waits stay short.
var e2eTiming = Timing{FastPoll: 250 * time.Millisecond, SlowPoll: time.Second, DebounceMin: 200 * time.Millisecond,
	DebounceMax: 2 * time.Second, Resync: 5 * time.Minute, BackoffMin: 250 * time.Millisecond, BackoffMax: 5 * time.Second}

// TestWatchEndToEnd runs watch against the real single-node swarm and a real
// nginx on loopback: a host-mode service is routed, scaled 1→3→1, survives a
// template that nginx refuses, and answers 503 once removed.
func TestWatchEndToEnd(t *testing.T) {
	c := testenv.Engine(t)
	bin := testenv.Nginx(t)
	stack := testenv.UniqueName(t)
	image := testenv.BuildImage(t, c, "deckhand-e2e-web:"+stack)
	host := stack + ".e2e.test"
	n := startNginx(t, bin)
	logs := &syncBuffer{}
	met := NewMetrics()
	stop := runWatch(t, c, n, stack, DefaultTemplate(), e2eTiming, met, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watch logs:\n%s", logs.String())
		}
	})

	id := createWebService(t, c, stack, image, testServicePort, map[string]string{discovery.LabelHost: host})
	upstream := stack + "_web"

	distinct := func(want int) func() bool {
		return func() bool {
			seen := map[string]bool{}
			for i := 0; i < 4*want; i++ {
				code, body, err := n.get(host, "/")
				if err != nil || code != http.StatusOK {
					return false
				}
				seen[body] = true
			}
			return len(seen) == want
		}
	}

	waitFor(t, 90*time.Second, "nginx to route to the first task", func() bool {
		code, _, err := n.get(host, "/")
		return err == nil && code == http.StatusOK
	})
	if got := upstreamServers(t, n.Site, upstream); got != 1 {
		t.Fatalf("upstream %s has %d servers, want 1", upstream, got)
	}

	scale(t, c, id, 3)
	waitFor(t, 120*time.Second, "3 servers in the config", func() bool { return upstreamServers(t, n.Site, upstream) == 3 })
	waitFor(t, 30*time.Second, "nginx to reach 3 distinct tasks", distinct(3))
	if !strings.Contains(logs.String(), "changes=\""+upstream+" +127.0.0.1:") {
		t.Fatalf("reloads must be logged with the servers they add:\n%s", logs.String())
	}

	scale(t, c, id, 1)
	waitFor(t, 120*time.Second, "1 server in the config", func() bool { return upstreamServers(t, n.Site, upstream) == 1 })
	waitFor(t, 30*time.Second, "nginx to reach 1 task", distinct(1))

	// A template nginx refuses: the old config stays, nginx keeps serving.
	stop()
	good, err := os.ReadFile(n.Site)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := ParseTemplate("bad", defaultTemplate+"\nthis_is_not_a_directive on;\n")
	if err != nil {
		t.Fatal(err)
	}
	badLogs := &syncBuffer{}
	badMet := NewMetrics()
	stopBad := runWatch(t, c, n, stack, bad, e2eTiming, badMet, badLogs)
	waitFor(t, 30*time.Second, "the bad config to fail its test", func() bool { return badMet.TestFailures() > 0 })
	stopBad()
	if now, _ := os.ReadFile(n.Site); string(now) != string(good) {
		t.Fatalf("a config that failed its test was left on disk:\n%s", now)
	}
	if !strings.Contains(badLogs.String(), "failed its test") || !strings.Contains(badLogs.String(), "this_is_not_a_directive") {
		t.Fatalf("the failure must be reported with nginx's message:\n%s", badLogs.String())
	}
	if code, _, err := n.get(host, "/"); err != nil || code != http.StatusOK {
		t.Fatalf("nginx must keep serving the old config: %d %v", code, err)
	}

	// Removing the service: its route answers 503, nginx stays up.
	met3 := NewMetrics()
	runWatch(t, c, n, stack, DefaultTemplate(), e2eTiming, met3, logs)
	waitFor(t, 30*time.Second, "the new watcher's first apply", met3.Healthy)
	removeService(t, c, id)
	waitFor(t, 60*time.Second, "the removed service's route to answer 503", func() bool {
		code, _, err := n.get(host, "/")
		return err == nil && code == http.StatusServiceUnavailable
	})
	if code, _, err := n.get("other.invalid", "/"); err != nil || code != http.StatusNotFound {
		t.Fatalf("nginx must still be up: %d %v", code, err)
	}
}
