package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHandler(t *testing.T) {
	h := handler("node1", env(map[string]string{"VERSION": "v2"}))
	if code, body := get(t, h, "/"); code != 200 || body != "hostname=node1 version=v2\n" {
		t.Errorf("GET / = %d %q, want 200 %q", code, body, "hostname=node1 version=v2\n")
	}
	if code, _ := get(t, h, "/healthz"); code != 200 {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	sick := handler("node1", env(map[string]string{"UNHEALTHY": "1"}))
	if code, _ := get(t, sick, "/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz with UNHEALTHY=1 = %d, want 503", code)
	}
	if code, _ := get(t, sick, "/"); code != 200 {
		t.Errorf("GET / with UNHEALTHY=1 = %d, want 200 (only the health check fails)", code)
	}
}

func TestListenDelay(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "1500ms": 1500 * time.Millisecond} {
		got, err := listenDelay(env(map[string]string{"LISTEN_DELAY": in}))
		if err != nil || got != want {
			t.Errorf("listenDelay(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := listenDelay(env(map[string]string{"LISTEN_DELAY": "soon"})); err == nil || !strings.Contains(err.Error(), "LISTEN_DELAY") {
		t.Errorf("listenDelay(soon) error = %v, want one naming LISTEN_DELAY", err)
	}
}

func TestPort(t *testing.T) {
	if p := port(env(nil)); p != "8080" {
		t.Errorf("default port = %s, want 8080", p)
	}
	if p := port(env(map[string]string{"PORT": "9000"})); p != "9000" {
		t.Errorf("port = %s, want 9000", p)
	}
}

func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		unhealthy string
		code      int
		line      string
	}{{"", 0, "healthy\n"}, {"1", 1, "unhealthy: /healthz answered 503 Service Unavailable\n"}} {
		srv := httptest.NewServer(handler("h", env(map[string]string{"UNHEALTHY": tc.unhealthy})))
		u, _ := url.Parse(srv.URL)
		var out bytes.Buffer
		if code := probe(&out, u.Port()); code != tc.code || out.String() != tc.line {
			t.Errorf("probe with UNHEALTHY=%q = %d %q, want %d %q", tc.unhealthy, code, out.String(), tc.code, tc.line)
		}
		srv.Close()
	}
	var out bytes.Buffer
	if code := probe(&out, "1"); code != 1 || !strings.HasPrefix(out.String(), "unhealthy: ") {
		t.Errorf("probe of a closed port = %d %q, want 1 and an unhealthy line", code, out.String())
	}
}
