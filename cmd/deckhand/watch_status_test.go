package main

import (
	"cmp"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/golden"
	"github.com/deckhand/deckhand/nginx"
)

// statusNow is the fixed "now" of the status page tests.
var statusNow = time.Date(2025, 11, 30, 12, 0, 0, 0, time.UTC)

// sampleStatus is a watch loop's status with two routes, an unrouted
// upstream, a tombstone, a skipped service whose label tries to inject
// HTML, and three changes.
func sampleStatus() nginx.Status {
	at := func(ago time.Duration) time.Time { return statusNow.Add(-ago) }
	web := discovery.Upstream{Name: "shop_web", TargetPort: 8080, Servers: []discovery.Server{
		{Addr: "10.0.0.1", Port: 31001, Node: "vm-1", Task: "shop_web.1", TaskID: "k3b1x9q2w8e7r6t5y4u3"},
		{Addr: "10.0.0.2", Port: 31002, Node: "vm-2", Task: "shop_web.3", TaskID: "p0o9i8u7y6t5r4e3w2q1"},
	}}
	admin := discovery.Upstream{Name: "shop_admin", TargetPort: 80, Servers: []discovery.Server{
		{Addr: "10.0.0.1", Port: 30080, Node: "vm-1"}, {Addr: "10.0.0.2", Port: 30080, Node: "vm-2"},
	}}
	metrics := discovery.Upstream{Name: "shop_metrics", TargetPort: 9090, Servers: []discovery.Server{{Addr: "10.0.0.1", Port: 30090, Node: "vm-1"}}}
	return nginx.Status{
		Model: discovery.Model{Services: []discovery.Service{
			{Stack: "shop", Name: "shop_admin", Upstreams: []discovery.Upstream{admin, metrics},
				Routes: []discovery.Route{{Path: "/admin/", Upstream: "shop_admin"}}},
			{Stack: "shop", Name: "shop_old", Upstreams: []discovery.Upstream{{Name: "shop_old", TargetPort: 80, Servers: []discovery.Server{}}},
				Routes: []discovery.Route{{Host: "old.example.com", Path: "/", Upstream: "shop_old"}}},
			{Stack: "shop", Name: "shop_web", Upstreams: []discovery.Upstream{web},
				Routes: []discovery.Route{{Host: "shop.example.com", Path: "/", Upstream: "shop_web"}}},
		}},
		Applied:         at(5 * time.Second),
		EngineReachable: true,
		LastRead:        at(time.Second),
		Skipped:         []string{`service "shop_evil": label deckhand.http.host="<img src=x onerror=alert(1)>" is not a DNS name; fix the label under deploy.labels and redeploy`},
		Write:           nginx.Outcome{At: at(5 * time.Second), OK: true},
		Test:            nginx.Outcome{At: at(5 * time.Second), OK: true},
		Reload:          nginx.Outcome{At: at(5 * time.Second), OK: true},
		Changes: []nginx.Change{
			{At: at(5 * time.Second), Added: []string{"shop_web 10.0.0.2:31002"}, Removed: []string{"shop_web 10.0.0.3:31003"},
				Summary: "shop_web +10.0.0.2:31002 -10.0.0.3:31003", Reloaded: true, Upstreams: 3},
			{At: at(3 * time.Minute), Removed: []string{"shop_old 10.0.0.1:30070"}, Summary: "shop_old -10.0.0.1:30070", Reloaded: true, Upstreams: 4},
			{At: at(2 * time.Hour), Added: []string{"shop_admin 10.0.0.1:30080", "shop_admin 10.0.0.2:30080"},
				Summary: "shop_admin +10.0.0.1:30080 +10.0.0.2:30080", Upstreams: 4, ReloadError: "exit status 1"},
		},
	}
}

// TestStatusPageGolden renders a busy status and a watch that has not
// applied anything yet.
func TestStatusPageGolden(t *testing.T) {
	down := nginx.Status{EngineError: `cannot reach the docker engine at unix:///var/run/docker.sock: connection refused`,
		Test: nginx.Outcome{At: statusNow.Add(-time.Minute), Err: "nginx config test \"nginx -t\" failed (exit status 1): emerg: unknown directive \"<b>\""}}
	for name, s := range map[string]nginx.Status{"busy": sampleStatus(), "starting": down} {
		t.Run(name, func(t *testing.T) {
			page, err := renderStatusPage(s, statusNow)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, page, "testdata/watch-status/"+name+".html")
		})
	}
}

// TestStatusPageEscapes: a label value that holds HTML reaches the page as
// text, never as markup.
func TestStatusPageEscapes(t *testing.T) {
	page, err := renderStatusPage(sampleStatus(), statusNow)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "<img") {
		t.Fatalf("a label's HTML reached the page unescaped:\n%s", page)
	}
	if !strings.Contains(string(page), "&lt;img src=x onerror=alert(1)&gt;") {
		t.Fatalf("the label's value must be shown, escaped:\n%s", page)
	}
}

func TestStatusViewMarksChanges(t *testing.T) {
	v := buildStatusView(sampleStatus(), statusNow)
	var got []string
	for _, r := range v.Routes {
		line := cmp.Or(r.Host, "(any host)") + r.Path + " " + r.Upstream + ":"
		if !r.Routed {
			line = "(no route) " + r.Upstream + ":"
		}
		for _, s := range r.Servers {
			line += " " + s.Addr
			if s.Class != "" {
				line += "[" + s.Change + "]"
			}
		}
		if r.Empty {
			line += " 503"
		}
		got = append(got, line)
	}
	want := []string{
		"old.example.com/ shop_old: 10.0.0.1:30070[removed 11:57:00 (3m ago)] 503",
		"shop.example.com/ shop_web: 10.0.0.1:31001 10.0.0.2:31002[added 11:59:55 (5s ago)] 10.0.0.3:31003[removed 11:59:55 (5s ago)]",
		"(any host)/admin/ shop_admin: 10.0.0.1:30080[added 10:00:00 (2h ago)] 10.0.0.2:30080[added 10:00:00 (2h ago)]",
		"(no route) shop_metrics: 10.0.0.1:30090",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("routes\n got %q\nwant %q", got, want)
	}
}

func TestAgo(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "just now", 1500 * time.Millisecond: "1s ago", 90 * time.Second: "1m ago", 3 * time.Hour: "3h ago", 50 * time.Hour: "2d ago",
	} {
		if got := ago(d); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestWatchHandler serves the page read-only beside /healthz and /metrics.
func TestWatchHandler(t *testing.T) {
	srv := httptest.NewServer(watchHandler(nginx.NewMetrics(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	for _, tt := range []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/", http.StatusOK, "<title>deckhand watch: 0 route(s), engine unreachable</title>"},
		{"HEAD", "/", http.StatusOK, ""},
		{"POST", "/", http.StatusMethodNotAllowed, ""},
		{"GET", "/metrics", http.StatusOK, "deckhand_engine_reachable 0"},
		{"GET", "/healthz", http.StatusServiceUnavailable, `"healthy":false`},
		{"GET", "/index.html", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.contains) {
			t.Errorf("%s %s: %d, want %d with %q:\n%s", tt.method, tt.path, resp.StatusCode, tt.code, tt.contains, body)
		}
		if tt.path == "/" && tt.code == http.StatusOK {
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("the page must forbid scripts, CSP %q", csp)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
		}
	}
}
