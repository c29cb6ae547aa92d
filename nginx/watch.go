package nginx

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/deckhand/deckhand/discovery"
)

// Source is where Watch reads the swarm from.
type Source interface {
	// Read returns a model of the whole swarm and why services were left
	// out of it; on error nothing was read.
	Read(ctx context.Context) (discovery.Model, []error, error)
	// Subscribe signals service and node changes until the stream breaks
	// (the error channel says why) or ctx ends.
	Subscribe(ctx context.Context) (<-chan struct{}, <-chan error)
}

// ConfigApplier puts rendered bytes in place (Applier in production).
type ConfigApplier interface {
	Apply(ctx context.Context, data []byte) (Result, error)
}

// Timing holds Watch's intervals; zero fields take DefaultTiming's values.
type Timing struct {
	FastPoll    time.Duration // task polling while a service is updating or converging
	SlowPoll    time.Duration // task polling when everything is steady
	DebounceMin time.Duration // quiet time after the last change before applying
	DebounceMax time.Duration // longest a change waits while changes keep coming
	Resync      time.Duration // full re-render and apply, even if nothing seems changed
	BackoffMin  time.Duration // first retry delay after an engine error
	BackoffMax  time.Duration // longest retry delay
	// KeepRemoved is how long the routes of a removed service keep answering
	// 503 (instead of falling through to the default server's 404).
	KeepRemoved time.Duration
}

// DefaultTiming is what `deckhand watch` uses unless told otherwise.
var DefaultTiming = Timing{
	FastPoll:    250 * time.Millisecond,
	SlowPoll:    2 * time.Second,
	DebounceMin: 200 * time.Millisecond,
	DebounceMax: 2 * time.Second,
	Resync:      5 * time.Minute,
	BackoffMin:  500 * time.Millisecond,
	BackoffMax:  30 * time.Second,
	KeepRemoved: 10 * time.Minute,
}

func (t Timing) withDefaults() Timing {
	d := DefaultTiming
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&t.FastPoll, d.FastPoll)
	set(&t.SlowPoll, d.SlowPoll)
	set(&t.DebounceMin, d.DebounceMin)
	set(&t.DebounceMax, d.DebounceMax)
	set(&t.Resync, d.Resync)
	set(&t.BackoffMin, d.BackoffMin)
	set(&t.BackoffMax, d.BackoffMax)
	set(&t.KeepRemoved, d.KeepRemoved)
	if t.DebounceMax < t.DebounceMin {
		t.DebounceMax = t.DebounceMin
	}
	return t
}

// WatchConfig is everything Watch needs.
type WatchConfig struct {
	Source   Source
	Template *Template
	HTTPPort int
	// ListenAddr is the IP address server blocks listen on; empty for all.
	ListenAddr string
	Applier    ConfigApplier
	Timing     Timing
	Logger     *slog.Logger
	Metrics    *Metrics // optional
}

// Backoff doubles a retry delay from Min up to Max.
type Backoff struct {
	Min, Max time.Duration

	cur time.Duration
}

// Next is the delay before the next retry: Min first, then twice the last
// one, at most Max.
func (b *Backoff) Next() time.Duration {
	if b.cur == 0 {
		b.cur = b.Min
	} else {
		b.cur = min(b.cur*2, b.Max)
	}
	return b.cur
}

// Reset starts the delays again from Min.
func (b *Backoff) Reset() { b.cur = 0 }

// watcher is Watch's state; only the loop goroutine touches it.
type watcher struct {
	cfg WatchConfig
	t   Timing
	log *slog.Logger
	met *Metrics

	applied      []byte // bytes last put in place successfully
	appliedModel discovery.Model
	pending      []byte // rendered, waiting for the debounce window
	pendingModel discovery.Model
	firstChange  time.Time // when pending first became non-nil
	failed       []byte    // bytes whose test failed; not retried until they change
	lastErr      string    // last logged read/render error, to log each once
	warned       []string  // the skipped services last logged, to log each set once

	settling bool                 // the last model read had a service updating or converging
	seen     discovery.Model      // last model read, without removed services
	removed  map[string]tombstone // removed services still answering 503

	readBackoff  Backoff
	eventBackoff Backoff
	reachable    bool
}

// Watch keeps the nginx config in step with the source until ctx ends. It
// reads at once and applies, then re-reads on every event and poll, debounces
// changes, resyncs periodically and rides out engine errors with back-off,
// keeping the last good config in place.
func Watch(ctx context.Context, cfg WatchConfig) error {
	if cfg.Source == nil || cfg.Applier == nil || cfg.Template == nil {
		return errors.New("watch: source, applier and template are required")
	}
	w := &watcher{cfg: cfg, t: cfg.Timing.withDefaults(), log: cfg.Logger, met: cfg.Metrics}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.met == nil {
		w.met = NewMetrics()
	}
	w.readBackoff = Backoff{Min: w.t.BackoffMin, Max: w.t.BackoffMax}
	w.eventBackoff = Backoff{Min: w.t.BackoffMin, Max: w.t.BackoffMax}
	return w.run(ctx)
}

func (w *watcher) run(ctx context.Context) error {
	// A stream ends only with an error (or ctx), so a new subscription never
	// overlaps an old one.
	events, eventErrs := w.cfg.Source.Subscribe(ctx)

	pollTimer := time.NewTimer(0) // first read at once
	defer pollTimer.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	resubscribe := time.NewTimer(time.Hour)
	resubscribe.Stop()
	defer resubscribe.Stop()
	resync := time.NewTicker(w.t.Resync)
	defer resync.Stop()

	first := true
	for {
		force := false
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			w.eventBackoff.Reset()
		case err := <-eventErrs:
			events, eventErrs = nil, nil
			if ctx.Err() != nil {
				return nil
			}
			d := w.eventBackoff.Next()
			w.log.Warn("engine event stream broke; polling until it is back", "err", err, "retry_in", d)
			resubscribe.Reset(d)
			continue
		case <-resubscribe.C:
			events, eventErrs = w.cfg.Source.Subscribe(ctx)
			// events may have been missed while the stream was down: read now.
		case <-pollTimer.C:
		case <-resync.C:
			force = true
		case <-debounce.C:
			w.applyPending(ctx)
			pollTimer.Reset(w.pollInterval())
			continue
		}

		wasReachable := w.reachable
		m, ok := w.read(ctx)
		if !ok {
			pollTimer.Reset(w.readBackoff.Next())
			continue
		}
		w.readBackoff.Reset()
		w.settling = m.Settling()
		m = w.withRemoved(m, time.Now())
		if !wasReachable && events == nil && eventErrs == nil {
			// engine is back: reconnect the event stream now rather than at the back-off's pace.
			resubscribe.Reset(0)
		}
		out, ok := w.render(m)
		if ok {
			switch {
			case first || force:
				first = false
				w.failed = nil
				w.pending, w.pendingModel = out, m
				debounce.Stop()
				w.applyPending(ctx)
			case bytes.Equal(out, w.applied):
				// The config in place routes m as well; m may name newer
				// tasks at the same addresses (a task replaced in place).
				w.appliedModel = m
				w.met.setModel(m)
				if w.pending != nil {
					w.pending = nil
					debounce.Stop()
				}
			case bytes.Equal(out, w.failed), bytes.Equal(out, w.pending):
				w.pendingModel = m
			default:
				now := time.Now()
				if w.pending == nil {
					w.firstChange = now
				}
				w.pending, w.pendingModel = out, m
				wait := min(w.t.DebounceMin, w.firstChange.Add(w.t.DebounceMax).Sub(now))
				debounce.Reset(max(wait, 0))
			}
		}
		pollTimer.Reset(w.pollInterval())
	}
}

func (w *watcher) pollInterval() time.Duration {
	if w.pending != nil || w.settling {
		return w.t.FastPoll
	}
	return w.t.SlowPoll
}

func (w *watcher) read(ctx context.Context) (discovery.Model, bool) {
	m, warnings, err := w.cfg.Source.Read(ctx)
	if err != nil {
		if ctx.Err() == nil {
			if w.reachable || w.lastErr != err.Error() {
				w.log.Error("cannot read the swarm; keeping the last good nginx config", "err", err)
			}
			w.lastErr = err.Error()
		}
		w.reachable = false
		w.met.readFailed(err, ctx.Err() == nil)
		return discovery.Model{}, false
	}
	if !w.reachable && w.lastErr != "" {
		w.log.Info("swarm readable again")
	}
	w.reachable = true
	w.met.readOK(time.Now(), warnings)
	w.warnOnChange(warnings)
	return m, true
}

func (w *watcher) render(m discovery.Model) ([]byte, bool) {
	out, err := RenderListen(m, w.cfg.Template, w.cfg.ListenAddr, w.cfg.HTTPPort)
	w.met.rendered(err)
	if err != nil {
		if w.lastErr != err.Error() {
			w.log.Error("cannot render the nginx config; keeping the last good one", "err", err)
		}
		w.lastErr = err.Error()
		return nil, false
	}
	w.lastErr = ""
	return out, true
}

func (w *watcher) applyPending(ctx context.Context) {
	if w.pending == nil {
		return
	}
	data, m := w.pending, w.pendingModel
	w.pending = nil
	res, err := w.cfg.Applier.Apply(ctx, data)
	now := time.Now()
	switch {
	case IsTestFailure(err):
		w.failed = data
		w.met.testFailed(now, err)
		w.log.Error("new nginx config failed its test; the previous one stays", "err", err)
		return
	case err != nil && !res.Changed:
		w.met.applyFailed(now, err)
		w.log.Error("cannot apply the nginx config; will retry", "err", err)
		return
	}
	added, removed := m.Diff(w.appliedModel)
	c := Change{At: now, Added: added, Removed: removed, Summary: changeSummary(added, removed),
		Reloaded: res.Reloaded, Upstreams: len(upstreamNames(m))}
	w.applied, w.appliedModel = data, m
	w.met.setModel(m)
	if err != nil {
		w.met.reloadFailed(now, res, err)
		c.ReloadError = err.Error()
		w.met.changed(c)
		w.log.Error("nginx config written but the reload failed", "err", err, "changes", c.Summary)
		return
	}
	w.met.applied(res, now)
	if res.Changed {
		w.met.changed(c)
		w.log.Info("nginx config applied", "reloaded", res.Reloaded, "added", len(added), "removed", len(removed),
			"changes", c.Summary, "upstreams", c.Upstreams)
	}
}

func upstreamNames(m discovery.Model) []string {
	var out []string
	for _, s := range m.Services {
		for _, u := range s.Upstreams {
			out = append(out, u.Name)
		}
	}
	return out
}

// tombstone is a removed service whose routes still answer 503.
type tombstone struct {
	svc   discovery.Service
	since time.Time
}

// withRemoved adds to m the services that disappeared within KeepRemoved,
// with no servers, so their routes answer 503 rather than 404. A tombstone
// gives way to any live service that takes its name, upstream or route.
func (w *watcher) withRemoved(m discovery.Model, now time.Time) discovery.Model {
	if w.removed == nil {
		w.removed = map[string]tombstone{}
	}
	present := map[string]bool{}
	upstreams := map[string]bool{}
	routes := map[string]bool{}
	for _, s := range m.Services {
		present[s.Name] = true
		for _, u := range s.Upstreams {
			upstreams[u.Name] = true
		}
		for _, r := range s.Routes {
			routes[r.Host+" "+r.Path] = true
		}
	}
	for _, s := range w.seen.Services {
		if present[s.Name] || len(s.Routes) == 0 {
			continue
		}
		if _, ok := w.removed[s.Name]; ok {
			continue
		}
		dead := s
		dead.Settling = false
		dead.Upstreams = nil
		for _, u := range s.Upstreams {
			u.Servers = []discovery.Server{}
			dead.Upstreams = append(dead.Upstreams, u)
		}
		w.removed[s.Name] = tombstone{svc: dead, since: now}
		w.log.Info("service removed; its routes answer 503 for a while", "service", s.Name, "for", w.t.KeepRemoved)
	}
	w.seen = m
	if len(w.removed) == 0 {
		return m
	}
	out := discovery.Model{Services: slices.Clone(m.Services)}
	for name, tb := range w.removed {
		if present[name] || now.Sub(tb.since) >= w.t.KeepRemoved {
			delete(w.removed, name)
			continue
		}
		clash := slices.ContainsFunc(tb.svc.Upstreams, func(u discovery.Upstream) bool { return upstreams[u.Name] }) ||
			slices.ContainsFunc(tb.svc.Routes, func(r discovery.Route) bool { return routes[r.Host+" "+r.Path] })
		if clash {
			delete(w.removed, name)
			continue
		}
		out.Services = append(out.Services, tb.svc)
	}
	slices.SortFunc(out.Services, func(a, b discovery.Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// changeSummary groups Diff's "upstream server" lines per upstream:
// "app_web +10.0.0.3:30000 -10.0.0.1:30000; db_admin +10.0.0.2:30001".
func changeSummary(added, removed []string) string {
	per := map[string][]string{}
	for _, sign := range []struct {
		mark  string
		lines []string
	}{{"+", added}, {"-", removed}} {
		for _, l := range sign.lines {
			up, srv, _ := strings.Cut(l, " ")
			per[up] = append(per[up], sign.mark+srv)
		}
	}
	names := make([]string, 0, len(per))
	for up := range per {
		names = append(names, up)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, up := range names {
		parts = append(parts, up+" "+strings.Join(per[up], " "))
	}
	return strings.Join(parts, "; ")
}

// warnOnChange logs each skipped service (an unroutable one, a bad label)
// once per change of the set, not on every read.
func (w *watcher) warnOnChange(warnings []error) {
	msgs := make([]string, 0, len(warnings))
	for _, e := range warnings {
		msgs = append(msgs, e.Error())
	}
	slices.Sort(msgs)
	if slices.Equal(msgs, w.warned) {
		return
	}
	for _, msg := range msgs {
		if !slices.Contains(w.warned, msg) {
			w.log.Warn("service left out of the nginx config", "problem", msg)
		}
	}
	w.warned = msgs
}
