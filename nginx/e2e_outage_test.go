package nginx

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/testenv"
)

// socketProxy forwards a unix socket to the engine's; cut drops every
// connection and refuses new ones until restore, like an engine going away.
type socketProxy struct {
	path, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newSocketProxy(t *testing.T, target string) *socketProxy {
	p := &socketProxy{path: filepath.Join(t.TempDir(), "engine.sock"), target: target, conns: map[net.Conn]bool{}}
	p.restore(t)
	t.Cleanup(p.cut)
	return p
}

func (p *socketProxy) restore(t *testing.T) {
	t.Helper()
	_ = os.Remove(p.path)
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", p.target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
}

func (p *socketProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// TestWatchRecoversFromEngineOutage cuts watch off the real engine (through
// a socket proxy, so other tests keep their engine), changes the swarm
// meanwhile, and checks that watch keeps the last good config, reports the
// outage on /healthz, and converges once the engine is reachable again.
func TestWatchRecoversFromEngineOutage(t *testing.T) {
	c := testenv.Engine(t)
	bin := testenv.Nginx(t)
	target, ok := strings.CutPrefix(c.DaemonHost(), "unix://")
	if !ok {
		testenv.Unavailable(t, "the engine is at %s; this test proxies a unix socket", c.DaemonHost())
	}
	stack := testenv.UniqueName(t)
	image := testenv.BuildImage(t, c, "deckhand-e2e-outage:"+stack)
	host := stack + ".e2e.test"
	proxy := newSocketProxy(t, target)
	pc, err := client.New(client.WithHost("unix://"+proxy.path), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	n := startNginx(t, bin)
	logs := &syncBuffer{}
	met := NewMetrics()
	srv := &http.Server{Handler: met.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	healthz := func() int {
		resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	runWatch(t, pc, n, stack, DefaultTemplate(), e2eTiming, met, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watch logs:\n%s", logs.String())
		}
	})
	id := createWebService(t, c, stack, image, testServicePort, map[string]string{discovery.LabelHost: host})
	upstream := stack + "_web"
	waitFor(t, 90*time.Second, "nginx to route to the first task", func() bool {
		code, _, err := n.get(host, "/")
		return err == nil && code == http.StatusOK
	})
	if code := healthz(); code != http.StatusOK {
		t.Fatalf("/healthz answered %d while all is well", code)
	}

	proxy.cut()
	before, err := os.ReadFile(n.Site)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "/healthz to report the engine unreachable", func() bool { return healthz() == http.StatusServiceUnavailable })
	scale(t, c, id, 3) // through the real engine: watch cannot see it
	waitFor(t, 120*time.Second, "3 running tasks", func() bool { return len(runningTasks(t, c, id)) == 3 })
	if now, _ := os.ReadFile(n.Site); string(now) != string(before) {
		t.Fatalf("the config changed while the engine was unreachable:\n%s", now)
	}
	if code, _, err := n.get(host, "/"); err != nil || code != http.StatusOK {
		t.Fatalf("nginx must keep serving through the outage: %d %v", code, err)
	}
	if !strings.Contains(logs.String(), "cannot read the swarm") {
		t.Fatalf("the outage must be logged:\n%s", logs.String())
	}

	proxy.restore(t)
	// Back-off is capped at e2eTiming.BackoffMax (5 s): watch is back well within this bound.
	waitFor(t, 60*time.Second, "watch to converge on 3 servers", func() bool { return upstreamServers(t, n.Site, upstream) == 3 })
	waitFor(t, 30*time.Second, "/healthz to be OK again", func() bool { return healthz() == http.StatusOK })
	if !strings.Contains(logs.String(), "event stream broke") {
		t.Fatalf("the broken event stream must be logged:\n%s", logs.String())
	}
}
