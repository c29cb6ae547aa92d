package nginx

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deckhand/deckhand/discovery"
)

// Metrics counts what Watch does and serves it as Prometheus text on
// /metrics and as a health check on /healthz; it also keeps what Watch
// last saw and did for people (Status).
type Metrics struct {
	mu           sync.Mutex
	renders      uint64
	renderErrors uint64
	reloads      uint64
	reloadErrors uint64
	testFailures uint64
	applyErrors  uint64
	readErrors   uint64
	applies      uint64
	lastSuccess  time.Time
	reachable    bool
	servers      map[[2]string]int // {service, upstream} → server count
	unroutable   int               // services left out at the last read as unroutable
	status       Status            // the rest of what Status returns
}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics { return &Metrics{servers: map[[2]string]int{}} }

func (m *Metrics) rendered(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.renders++
	if err != nil {
		m.renderErrors++
	}
}

// readFailed records a failed read of the swarm; counted says whether it
// counts as an error (not when Watch is stopping).
func (m *Metrics) readFailed(err error, counted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if counted {
		m.readErrors++
	}
	m.reachable = false
	m.status.EngineError = err.Error()
}

// testFailed records a config whose test failed.
func (m *Metrics) testFailed(at time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.testFailures++
	m.status.Test = failed(at, err)
}

// applyFailed records a config that could not be written.
func (m *Metrics) applyFailed(at time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applyErrors++
	m.status.Write = failed(at, err)
}

// reloadFailed records a config written (and tested, with res.Tested)
// whose reload failed.
func (m *Metrics) reloadFailed(at time.Time, res Result, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reloadErrors++
	m.status.Write = succeeded(at)
	if res.Tested {
		m.status.Test = succeeded(at)
	}
	m.status.Reload = failed(at, err)
}

// applied records a config put in place (or found in place) at at.
func (m *Metrics) applied(res Result, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applies++
	if res.Changed {
		m.status.Write = succeeded(at)
	}
	if res.Tested {
		m.status.Test = succeeded(at)
	}
	if res.Reloaded {
		m.reloads++
		m.status.Reload = succeeded(at)
	}
	m.lastSuccess = at
}

// Status returns a copy of what Watch last saw and did.
func (m *Metrics) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status
	s.EngineReachable = m.reachable
	s.Applied = m.lastSuccess
	s.Skipped = slices.Clone(s.Skipped)
	s.Changes = slices.Clone(s.Changes)
	return s
}

// readOK records a successful read of the swarm and its warnings.
func (m *Metrics) readOK(at time.Time, warnings []error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reachable = true
	m.status.EngineError = ""
	m.status.LastRead = at
	m.status.Skipped = m.status.Skipped[:0:0]
	m.unroutable = 0
	for _, w := range warnings {
		m.status.Skipped = append(m.status.Skipped, w.Error())
		var u *discovery.UnroutableError
		if errors.As(w, &u) {
			m.unroutable++
		}
	}
	slices.Sort(m.status.Skipped)
}

// setModel records the routing of the config in place.
func (m *Metrics) setModel(model discovery.Model) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Model = model
	m.servers = map[[2]string]int{}
	for _, s := range model.Services {
		for _, u := range s.Upstreams {
			m.servers[[2]string{s.Name, u.Name}] = len(u.Servers)
		}
	}
}

// changed records a config put in place.
func (m *Metrics) changed(c Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Changes = append([]Change{c}, m.status.Changes[:min(len(m.status.Changes), MaxChanges-1)]...)
}

// Reloads is the number of successful reloads so far.
func (m *Metrics) Reloads() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.reloads }

// TestFailures is the number of configs that failed their test so far.
func (m *Metrics) TestFailures() uint64 { m.mu.Lock(); defer m.mu.Unlock(); return m.testFailures }

// Healthy reports whether a config was applied and the engine is reachable.
func (m *Metrics) Healthy() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.lastSuccess.IsZero() && m.reachable
}

// promLabel escapes a Prometheus label value.
func promLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// WriteText writes the metrics in the Prometheus text exposition format,
// sorted so the output is stable.
func (m *Metrics) WriteText(w *strings.Builder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	counter("deckhand_nginx_renders_total", "Configs rendered from the swarm state.", m.renders)
	counter("deckhand_nginx_render_errors_total", "Renders that failed (template errors).", m.renderErrors)
	counter("deckhand_nginx_applies_total", "Configs put in place successfully.", m.applies)
	counter("deckhand_nginx_reloads_total", "Successful nginx reloads.", m.reloads)
	counter("deckhand_nginx_reload_errors_total", "Failed nginx reloads.", m.reloadErrors)
	counter("deckhand_nginx_test_failures_total", "Configs refused by the test command (previous config kept).", m.testFailures)
	counter("deckhand_nginx_apply_errors_total", "Configs that could not be written.", m.applyErrors)
	counter("deckhand_engine_read_errors_total", "Failed reads of the swarm state.", m.readErrors)
	last := 0.0
	if !m.lastSuccess.IsZero() {
		last = float64(m.lastSuccess.UnixNano()) / 1e9
	}
	gauge("deckhand_nginx_last_success_timestamp_seconds", "Unix time of the last successful apply.", last)
	up := 0.0
	if m.reachable {
		up = 1
	}
	gauge("deckhand_engine_reachable", "1 if the last read of the swarm succeeded.", up)
	gauge("deckhand_nginx_skipped_services", "Services left out of the config at the last read (bad labels, unroutable); the status page says why.", float64(len(m.status.Skipped)))
	gauge("deckhand_nginx_unroutable_services", "Services left out at the last read because nginx cannot route to them (no published port; with the tasks backend, no port label).", float64(m.unroutable))
	keys := make([][2]string, 0, len(m.servers))
	for k := range m.servers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	fmt.Fprintf(w, "# HELP deckhand_nginx_upstream_servers Servers in each upstream of the applied config.\n# TYPE deckhand_nginx_upstream_servers gauge\n")
	for _, k := range keys {
		fmt.Fprintf(w, "deckhand_nginx_upstream_servers{service=\"%s\",upstream=\"%s\"} %d\n", promLabel(k[0]), promLabel(k[1]), m.servers[k])
	}
}

// Handler serves /metrics and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var b strings.Builder
		m.WriteText(&b)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(b.String()))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		m.mu.Lock()
		body := struct {
			Healthy         bool   `json:"healthy"`
			EngineReachable bool   `json:"engine_reachable"`
			LastSuccess     string `json:"last_success,omitempty"`
		}{EngineReachable: m.reachable}
		if !m.lastSuccess.IsZero() {
			body.LastSuccess = m.lastSuccess.UTC().Format(time.RFC3339Nano)
		}
		body.Healthy = body.EngineReachable && body.LastSuccess != ""
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !body.Healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	return mux
}
