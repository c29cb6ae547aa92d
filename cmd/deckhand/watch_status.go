package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/nginx"
)

// statusRefresh is how often the status page reloads itself.
const statusRefresh = 2 * time.Second

//go:embed watch_status.html
var statusHTML string

// statusTemplate is the status page; html/template escapes every value,
// label values included.
var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// statusView is what the status page shows, formatted for people.
type statusView struct {
	Refresh   int // seconds
	Generated string
	Engine    struct {
		Reachable bool
		Error     string
		LastRead  string
	}
	Applied string
	Steps   []stepView
	Routes  []routeView
	Skipped []string
	Changes []changeView
}

// stepView is the last run of the write, the test or the reload.
type stepView struct {
	Name      string
	Ran, OK   bool
	When, Err string
}

// routeView is one route (or one upstream no route uses) and its servers.
type routeView struct {
	Routed         bool
	Host, Path     string // Host "": any host (nginx's default server)
	Upstream       string
	Service, Stack string
	Empty          bool // no server: nginx answers 503
	Servers        []serverView
}

// serverView is one server, or one the last change of its upstream removed.
type serverView struct {
	Addr, Node    string
	Task, TaskID  string
	NoTask        string // what stands in for the task when there is none
	Class, Change string // "added"/"removed" and when
}

// changeView is one applied change.
type changeView struct {
	When        string
	Summary     string
	Upstreams   int
	Reloaded    bool
	ReloadError string
}

// buildStatusView turns the watch loop's status into the page's view; it
// is pure, so now is given.
func buildStatusView(s nginx.Status, now time.Time) statusView {
	v := statusView{Refresh: int(statusRefresh / time.Second), Generated: clock(now)}
	v.Engine.Reachable, v.Engine.Error = s.EngineReachable, s.EngineError
	v.Engine.LastRead = when(s.LastRead, now)
	v.Applied = "no config applied yet"
	if !s.Applied.IsZero() {
		v.Applied = when(s.Applied, now)
	}
	for _, st := range []struct {
		name string
		o    nginx.Outcome
	}{{"write", s.Write}, {"test", s.Test}, {"reload", s.Reload}} {
		v.Steps = append(v.Steps, stepView{Name: st.name, Ran: !st.o.At.IsZero(), OK: st.o.OK, When: when(st.o.At, now), Err: st.o.Err})
	}
	v.Routes = statusRoutes(s.Model, s.Changes, now)
	v.Skipped = s.Skipped
	for _, c := range s.Changes {
		v.Changes = append(v.Changes, changeView{When: when(c.At, now), Summary: c.Summary, Upstreams: c.Upstreams, Reloaded: c.Reloaded, ReloadError: c.ReloadError})
	}
	return v
}

// statusRoutes lists every route sorted by host (the default server last)
// and path, then the upstreams no route uses, each with its servers and
// what the newest change of its upstream added and removed.
func statusRoutes(m discovery.Model, changes []nginx.Change, now time.Time) []routeView {
	var out []routeView
	for _, s := range m.Services {
		routed := map[string]bool{}
		for _, r := range s.Routes {
			routed[r.Upstream] = true
			out = append(out, routeView{Routed: true, Host: r.Host, Path: r.Path, Upstream: r.Upstream, Service: s.Name, Stack: s.Stack})
		}
		for _, u := range s.Upstreams {
			if !routed[u.Name] {
				out = append(out, routeView{Upstream: u.Name, Service: s.Name, Stack: s.Stack})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b routeView) int {
		switch {
		case a.Routed != b.Routed:
			return boolOrder(!a.Routed, !b.Routed)
		case (a.Host == "") != (b.Host == ""):
			return boolOrder(a.Host == "", b.Host == "")
		}
		return strings.Compare(a.Host+" "+a.Path, b.Host+" "+b.Path)
	})
	for i := range out {
		u, _ := m.Upstream(out[i].Upstream)
		out[i].Servers = statusServers(u, changes, now)
		out[i].Empty = len(u.Servers) == 0
	}
	return out
}

// boolOrder orders false before true.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// statusServers is u's servers, marked with what the newest change that
// touched u added, followed by the servers it removed.
func statusServers(u discovery.Upstream, changes []nginx.Change, now time.Time) []serverView {
	var added, removed []string
	var at time.Time
	for _, c := range changes { // newest first
		added, removed = serversOf(u.Name, c.Added), serversOf(u.Name, c.Removed)
		if len(added)+len(removed) > 0 {
			at = c.At
			break
		}
	}
	var out []serverView
	for _, s := range u.Servers {
		v := serverView{Addr: s.String(), Node: s.Node, Task: s.Task, TaskID: shortID(s.TaskID), NoTask: "any (routing mesh)"}
		if slices.Contains(added, v.Addr) {
			v.Class, v.Change = "added", "added "+when(at, now)
		}
		out = append(out, v)
	}
	for _, addr := range removed {
		out = append(out, serverView{Addr: addr, NoTask: "gone", Class: "removed", Change: "removed " + when(at, now)})
	}
	return out
}

// serversOf picks the servers of upstream from "upstream server" lines.
func serversOf(upstream string, lines []string) []string {
	var out []string
	for _, l := range lines {
		if up, srv, ok := strings.Cut(l, " "); ok && up == upstream {
			out = append(out, srv)
		}
	}
	return out
}

// shortID is an engine ID as docker's tables show it: 12 characters.
func shortID(id string) string { return id[:min(len(id), 12)] }

// clock is a time of day with its zone, as a person reads it.
func clock(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

// when is t and how long before now it was, or "never".
func when(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("15:04:05") + " (" + ago(now.Sub(t)) + ")"
}

// ago says how long ago d was, to the second, minute, hour or day.
func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}

// renderStatusPage writes the page for s at now.
func renderStatusPage(s nginx.Status, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, buildStatusView(s, now)); err != nil {
		return nil, fmt.Errorf("render the status page: %w", err)
	}
	return b.Bytes(), nil
}

// statusPage serves the status page of met's watch loop: read-only HTML
// that runs no script (its Content-Security-Policy forbids any).
func statusPage(met *nginx.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		page, err := renderStatusPage(met.Status(), time.Now())
		if err != nil {
			log.Error("cannot serve the status page", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		_, _ = w.Write(page)
	})
}

// watchHandler serves the status page on / beside /healthz and /metrics.
func watchHandler(met *nginx.Metrics, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", statusPage(met, log))
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the status page is read-only: GET it", http.StatusMethodNotAllowed)
	})
	mux.Handle("/", met.Handler())
	return mux
}
