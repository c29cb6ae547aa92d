package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	kv, err := parseConfig(strings.NewReader("# comment\n\ngreeting = hi there \nshutdown_delay=3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if kv["greeting"] != "hi there" || kv["shutdown_delay"] != "3s" || len(kv) != 2 {
		t.Fatalf("parsed %v", kv)
	}
	for _, bad := range []string{"greeting\n", "= x\n", "colour = red\n"} {
		if _, err := parseConfig(strings.NewReader(bad)); err == nil {
			t.Errorf("config %q parsed without error", bad)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(conf, []byte("greeting = ahoy\nshutdown_delay = 0s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"APP_VERSION": "v7", "APP_API_KEY": "k", "APP_ENVIRONMENT": "staging"}
	s, err := load(conf, func(k string) string { return env[k] }, "node1-1")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Greeting: "ahoy", Version: "v7", Env: "staging", Hostname: "node1-1", APIKeySet: true}
	if s.cfg != want || s.shutdownDelay != 0 {
		t.Fatalf("load = %+v, %v; want %+v, 0s", s.cfg, s.shutdownDelay, want)
	}

	s, err = load(filepath.Join(dir, "absent.conf"), func(string) string { return "" }, "h")
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Greeting != "hello" || s.cfg.Version != "dev" || s.cfg.APIKeySet || s.shutdownDelay != time.Second {
		t.Fatalf("defaults = %+v, %v", s.cfg, s.shutdownDelay)
	}

	if err := os.WriteFile(conf, []byte("shutdown_delay = soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(conf, func(string) string { return "" }, "h"); err == nil || !strings.Contains(err.Error(), "shutdown_delay") {
		t.Fatalf("bad shutdown_delay: err = %v", err)
	}
}

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

func TestHandlers(t *testing.T) {
	s := &server{cfg: Config{Greeting: "hello", Hostname: "node2-3", Version: "v2", Env: "demo", APIKeySet: true}}
	h := s.routes()
	if code, body := get(t, h, "/"); code != 200 || body != "hello from node2-3, version v2 (demo)\n" {
		t.Errorf("GET / = %d %q", code, body)
	}
	code, body := get(t, h, "/?format=json")
	var a answer
	if err := json.Unmarshal([]byte(body), &a); err != nil || code != 200 {
		t.Fatalf("GET /?format=json = %d %q: %v", code, body, err)
	}
	if a != (answer{Greeting: "hello", Hostname: "node2-3", Version: "v2", Env: "demo", Secret: true}) {
		t.Errorf("json answer %+v", a)
	}
	if code, body := get(t, h, "/healthz"); code != 200 || body != "ok v2\n" {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	if code, _ := get(t, h, "/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	s.stopping.Store(true)
	if code, body := get(t, h, "/healthz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("stopping: GET /healthz = %d %q", code, body)
	}
	broken := (&server{cfg: Config{Unhealthy: true}}).routes()
	if code, body := get(t, broken, "/healthz"); code != 503 || !strings.Contains(body, "APP_UNHEALTHY") {
		t.Errorf("unhealthy: GET /healthz = %d %q", code, body)
	}
}

// TestServeDrains checks the SIGTERM path: once ctx is done /healthz fails
// while "/" is still answered during the drain, then serve returns nil and
// the port is closed.
func TestServeDrains(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cfg: Config{Greeting: "hello", Hostname: "h", Version: "v1"}}
	ctx, cancel := context.WithCancel(context.Background())
	draining, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, l, s, func() { close(draining); <-release })
	}()
	base := "http://" + l.Addr().String()
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("before shutdown: /healthz = %d", code)
	}
	cancel()
	<-draining
	if code, body := httpGet(t, base+"/healthz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("draining: /healthz = %d %q, want 503", code, body)
	}
	if code, body := httpGet(t, base+"/"); code != 200 || body != "hello from h, version v1\n" {
		t.Errorf("draining: / = %d %q, want an answer", code, body)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after shutdown, want nil", err)
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("port still answers after serve returned")
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// FuzzParseConfig checks that any input either fails with an error or gives
// only known keys with trimmed values, and never panics.
func FuzzParseConfig(f *testing.F) {
	for _, seed := range []string{"greeting = hi\n", "# c\n\nshutdown_delay=2s", "x", "=", "greeting = a = b\n", "greeting\t=\t\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		kv, err := parseConfig(strings.NewReader(in))
		if err != nil {
			return
		}
		for k, v := range kv {
			if k != "greeting" && k != "shutdown_delay" {
				t.Errorf("parseConfig(%q) accepted unknown key %q", in, k)
			}
			if v != strings.TrimSpace(v) {
				t.Errorf("parseConfig(%q): value %q is not trimmed", in, v)
			}
		}
	})
}
