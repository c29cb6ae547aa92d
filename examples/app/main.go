// Command hello is the example service deckhand ships in examples/: it
// answers with its host name and version, serves /healthz, reads a config
// file and a secret at start and shuts down gracefully on SIGTERM.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is what the service reads from its config file and environment at start.
type Config struct {
	Greeting  string // first words of every answer (config "greeting")
	Version   string // APP_VERSION, baked into the image by its Dockerfile
	Env       string // APP_ENVIRONMENT, set by the deployment (production, staging, demo)
	Hostname  string // the container's host name (swarm sets it per task)
	APIKeySet bool   // whether APP_API_KEY (from the secret) was given
	Unhealthy bool   // APP_UNHEALTHY=1 makes /healthz fail: a broken release
}

// parseConfig reads "key = value" lines; blank lines and lines starting with
// "#" are ignored. Unknown keys are an error so typos are caught at start.
func parseConfig(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("line %d: %q is not key = value", n, line)
		}
		if !slices.Contains([]string{"greeting", "shutdown_delay"}, k) {
			return nil, fmt.Errorf("line %d: unknown key %q; known keys are greeting and shutdown_delay", n, k)
		}
		out[k] = v
	}
	return out, sc.Err()
}

// settings are the parsed start-up inputs of the service.
type settings struct {
	cfg           Config
	shutdownDelay time.Duration
}

// load builds the settings from the config file (may be absent) and the environment.
func load(path string, getenv func(string) string, hostname string) (settings, error) {
	s := settings{cfg: Config{Greeting: "hello", Hostname: hostname}, shutdownDelay: time.Second}
	if path != "" {
		f, err := os.Open(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			slog.Warn("no config file, using defaults", "component", "hello", "path", path)
		case err != nil:
			return s, fmt.Errorf("open config %q: %w", path, err)
		default:
			kv, err := parseConfig(f)
			f.Close()
			if err != nil {
				return s, fmt.Errorf("config %q: %w; fix the file", path, err)
			}
			if g, ok := kv["greeting"]; ok {
				s.cfg.Greeting = g
			}
			if d, ok := kv["shutdown_delay"]; ok {
				v, err := time.ParseDuration(d)
				if err != nil || v < 0 {
					return s, fmt.Errorf("config %q: shutdown_delay %q is not a duration such as 2s", path, d)
				}
				s.shutdownDelay = v
			}
		}
	}
	s.cfg.Version = getenv("APP_VERSION")
	if s.cfg.Version == "" {
		s.cfg.Version = "dev"
	}
	s.cfg.Env = getenv("APP_ENVIRONMENT")
	s.cfg.APIKeySet = getenv("APP_API_KEY") != ""
	s.cfg.Unhealthy = getenv("APP_UNHEALTHY") == "1"
	return s, nil
}

// server answers requests; stopping is set once SIGTERM arrived.
type server struct {
	cfg      Config
	stopping atomic.Bool
}

// answer is the JSON form of the answer to "/".
type answer struct {
	Greeting string `json:"greeting"`
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	Env      string `json:"environment,omitempty"`
	Secret   bool   `json:"secret"`
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /{$}", s.root)
	return mux
}

func (s *server) root(w http.ResponseWriter, r *http.Request) {
	a := answer{Greeting: s.cfg.Greeting, Hostname: s.cfg.Hostname, Version: s.cfg.Version, Env: s.cfg.Env, Secret: s.cfg.APIKeySet}
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	env := ""
	if a.Env != "" {
		env = " (" + a.Env + ")"
	}
	fmt.Fprintf(w, "%s from %s, version %s%s\n", a.Greeting, a.Hostname, a.Version, env)
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case s.cfg.Unhealthy:
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "unhealthy: APP_UNHEALTHY=1")
	case s.stopping.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "unhealthy: shutting down")
	default:
		fmt.Fprintf(w, "ok %s\n", s.cfg.Version)
	}
}

// serve runs the HTTP server on l until ctx is done, then fails /healthz,
// calls drain (which waits so proxies stop sending) while still answering, and
// finishes in-flight requests.
func serve(ctx context.Context, l net.Listener, s *server, drain func()) error {
	hs := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	s.stopping.Store(true)
	slog.Info("shutting down", "component", "hello")
	drain()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain connections: %w", err)
	}
	slog.Info("stopped", "component", "hello")
	return nil
}

// envOr returns the environment variable k, or def when it is empty.
func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	listen := flag.String("listen", ":"+envOr("APP_PORT", "8080"), "address to listen on (default from APP_PORT)")
	config := flag.String("config", envOr("APP_CONFIG", "/etc/hello/app.conf"), "config file of key = value lines (default from APP_CONFIG)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))

	host, _ := os.Hostname()
	st, err := load(*config, os.Getenv, host)
	if err != nil {
		slog.Error("bad start-up settings", "component", "hello", "err", err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		slog.Error("listen", "component", "hello", "addr", *listen, "err", err)
		os.Exit(1)
	}
	slog.Info("listening", "component", "hello", "addr", l.Addr().String(), "version", st.cfg.Version,
		"hostname", st.cfg.Hostname, "secret", st.cfg.APIKeySet, "unhealthy", st.cfg.Unhealthy)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	drain := func() { time.Sleep(st.shutdownDelay) }
	if err := serve(ctx, l, &server{cfg: st.cfg}, drain); err != nil {
		slog.Error("serve", "component", "hello", "err", err)
		os.Exit(1)
	}
}
