// Command testsvc is the tiny HTTP service deckhand's end-to-end tests deploy.
//
// It answers "hostname=<hostname> version=<$VERSION>" on /, 200 on /healthz
// (503 when UNHEALTHY=1), listens on $PORT (default 8080) after sleeping
// $LISTEN_DELAY (a Go duration or whole seconds), and drains in-flight
// requests on SIGTERM. "testsvc -healthcheck" probes /healthz of the local
// instance and exits 0 or 1, for a HEALTHCHECK in an image without a shell.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "probe /healthz of the local instance and exit 0 (healthy) or 1")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "testsvc")
	if *healthcheck {
		os.Exit(probe(os.Stdout, port(os.Getenv)))
	}
	if err := serve(log, os.Getenv); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

// port is the TCP port to listen on, from $PORT.
func port(getenv func(string) string) string {
	if p := getenv("PORT"); p != "" {
		return p
	}
	return "8080"
}

// listenDelay parses $LISTEN_DELAY: a Go duration ("1500ms") or whole seconds ("3").
func listenDelay(getenv func(string) string) (time.Duration, error) {
	v := getenv("LISTEN_DELAY")
	if v == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("LISTEN_DELAY %q is neither a duration nor seconds: %w; use e.g. 2s", v, err)
	}
	return d, nil
}

// handler serves / and /healthz for the given hostname and environment.
func handler(hostname string, getenv func(string) string) http.Handler {
	version := getenv("VERSION")
	unhealthy := getenv("UNHEALTHY") == "1"
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if unhealthy {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hostname=%s version=%s\n", hostname, version)
	})
	return mux
}

func serve(log *slog.Logger, getenv func(string) string) error {
	delay, err := listenDelay(getenv)
	if err != nil {
		return err
	}
	hostname, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("read hostname: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if delay > 0 {
		log.Info("delaying listen", "delay", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil
		}
	}
	addr := net.JoinHostPort("", port(getenv))
	srv := &http.Server{Addr: addr, Handler: handler(hostname, getenv), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", "addr", addr, "version", getenv("VERSION"), "hostname", hostname)
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info("draining on signal")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// probe GETs /healthz on the local port and reports one line; it returns the exit code.
func probe(out io.Writer, port string) int {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		fmt.Fprintf(out, "unhealthy: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(out, "unhealthy: /healthz answered %s\n", resp.Status)
		return 1
	}
	fmt.Fprintln(out, "healthy")
	return 0
}
