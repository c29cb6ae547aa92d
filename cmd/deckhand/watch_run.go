package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/nginx"
)

// runWatch keeps the config at --out in step with the swarm until ctx
// ends, logging on errw.
func runWatch(ctx context.Context, o nginxOptions, errw io.Writer) error {
	if err := o.checkOut(); err != nil {
		return err
	}
	dopts, tmpl, err := o.prepare()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(errw, nil)).With("component", "watch")
	met := nginx.NewMetrics()
	if o.metricsAddr != "" {
		ln, err := net.Listen("tcp", o.metricsAddr)
		if err != nil {
			return fmt.Errorf("listen on --metrics-addr %s: %w; pick a free address", o.metricsAddr, err)
		}
		srv := &http.Server{Handler: watchHandler(met, log), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("serving the status page, /healthz and /metrics", "addr", ln.Addr().String())
	}
	c, err := connectEngineWithRetry(ctx, o.target, log)
	if err != nil {
		return err
	}
	if c == nil {
		return nil // interrupted while waiting for the engine
	}
	defer c.Close()
	src := &discovery.EngineSource{Engine: c, Options: dopts, Logger: log}
	log.Info("watching the swarm", "out", o.out, "stacks", fmt.Sprint(o.stacks), "backend", dopts.Backend)
	return nginx.Watch(ctx, nginx.WatchConfig{
		Source: src, Template: tmpl, HTTPPort: o.httpPort, ListenAddr: o.listenAddr, Timing: o.timing, Logger: log, Metrics: met,
		Applier: o.applier(),
	})
}

// connectEngineWithRetry connects to the engine, retrying with back-off
// while it is unreachable (a watcher may start before dockerd); nil when
// ctx ends first.
func connectEngineWithRetry(ctx context.Context, t *target, log *slog.Logger) (*engineConn, error) {
	b := nginx.Backoff{Min: nginx.DefaultTiming.BackoffMin, Max: nginx.DefaultTiming.BackoffMax}
	for {
		c, err := t.connect(ctx)
		if err == nil {
			log.Info("watching the engine", "target", c.String())
			return c, nil
		}
		d := b.Next()
		log.Warn("engine not reachable yet; retrying", "err", err, "retry_in", d)
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(d):
		}
	}
}
