package nginx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/engine"
)

// Options are the flags of `deckhand nginx render|apply` and `deckhand watch`.
type Options struct {
	Stacks        []string
	NodeLabels    []string
	NodeAddr      string
	Backend       string
	Network       string
	Template      string
	HTTPPort      int
	ListenAddr    string
	Out           string
	TestCommand   string
	ReloadCommand string
	MetricsAddr   string
	Format        string
	Timing        Timing
}

// AddFlags registers the flags shared by render, apply and watch; withApply
// adds --out and the commands, withWatch the watch-only flags.
func AddFlags(fs *pflag.FlagSet, o *Options, withApply, withWatch bool) {
	fs.StringVar(&o.Template, "template", "", "Go text/template file to render instead of the built-in one")
	fs.IntVar(&o.HTTPPort, "http-port", DefaultHTTPPort, "port the server blocks listen on")
	fs.StringVar(&o.ListenAddr, "listen-addr", "", "IP address the server blocks listen on (default: every address)")
	fs.StringArrayVar(&o.NodeLabels, "node-label", nil, "only route ingress ports to nodes with this label (key=value, repeatable)")
	fs.StringVar(&o.NodeAddr, "node-addr", discovery.NodeAddrIP, `node address to use: "addr" (the node's swarm address) or "hostname"`)
	fs.StringVar(&o.Backend, "backend", discovery.BackendPublished, `"published" (node address × published port) or "tasks" (task IPs on --network × target port)`)
	fs.StringVar(&o.Network, "network", "", "network whose task IPs --backend tasks uses (name or ID)")
	if withApply {
		fs.StringVar(&o.Out, "out", "", "config file to write (the file nginx includes inside http {})")
		fs.StringVar(&o.TestCommand, "test-command", DefaultTestCommand, `command that tests the config in place (run with sh -c; "" skips the test)`)
		fs.StringVar(&o.ReloadCommand, "reload-command", DefaultReloadCommand, `command that reloads nginx (run with sh -c; "" skips the reload)`)
	}
	if withWatch {
		fs.StringVar(&o.MetricsAddr, "metrics-addr", "", "serve /healthz and Prometheus /metrics on this address (e.g. 127.0.0.1:9180)")
		fs.DurationVar(&o.Timing.FastPoll, "poll-fast", DefaultTiming.FastPoll, "task polling interval while a service is updating or converging")
		fs.DurationVar(&o.Timing.SlowPoll, "poll-slow", DefaultTiming.SlowPoll, "task polling interval when the swarm is steady")
		fs.DurationVar(&o.Timing.DebounceMin, "debounce-min", DefaultTiming.DebounceMin, "quiet time after the last change before applying")
		fs.DurationVar(&o.Timing.DebounceMax, "debounce-max", DefaultTiming.DebounceMax, "longest a change waits while changes keep coming")
		fs.DurationVar(&o.Timing.Resync, "resync", DefaultTiming.Resync, "period of the full re-render and apply")
		fs.DurationVar(&o.Timing.KeepRemoved, "keep-removed", DefaultTiming.KeepRemoved, "how long a removed service's routes keep answering 503")
	}
}

// discoveryOptions checks the flags and turns them into discovery options.
func (o Options) discoveryOptions() (discovery.Options, error) {
	labels, err := discovery.ParseNodeLabels(o.NodeLabels)
	if err != nil {
		return discovery.Options{}, err
	}
	if _, err := listenArg(o.ListenAddr, o.HTTPPort); err != nil {
		return discovery.Options{}, err
	}
	d := discovery.Options{Stacks: o.Stacks, NodeLabels: labels, NodeAddr: o.NodeAddr, Backend: o.Backend, Network: o.Network}
	if err := d.Check(); err != nil {
		return discovery.Options{}, err
	}
	if o.HTTPPort < 1 || o.HTTPPort > 65535 {
		return discovery.Options{}, fmt.Errorf("--http-port %d is out of range; use a port between 1 and 65535", o.HTTPPort)
	}
	return d, nil
}

func (o Options) checkOut() error {
	if o.Out == "" {
		return errors.New("--out is required: the config file nginx includes, e.g. --out /etc/nginx/conf.d/deckhand.conf")
	}
	return nil
}

// RunRender prints the config (or, with format json, the model) for the
// current swarm state without writing anything.
func RunRender(ctx context.Context, o Options, out, errw io.Writer) error {
	if o.Format != "" && o.Format != "text" && o.Format != "json" {
		return fmt.Errorf("unknown format %q; use text or json", o.Format)
	}
	dopts, tmpl, err := o.prepare()
	if err != nil {
		return err
	}
	c, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return render(ctx, c, dopts, tmpl, o, out, errw)
}

// prepare checks the options every command shares and loads the template.
func (o Options) prepare() (discovery.Options, *Template, error) {
	dopts, err := o.discoveryOptions()
	if err != nil {
		return discovery.Options{}, nil, err
	}
	tmpl, err := LoadTemplate(o.Template)
	if err != nil {
		return discovery.Options{}, nil, err
	}
	return dopts, tmpl, nil
}

func render(ctx context.Context, l discovery.Lister, dopts discovery.Options, tmpl *Template, o Options, out, errw io.Writer) error {
	m, err := readModel(ctx, l, dopts, errw)
	if err != nil {
		return err
	}
	if o.Format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	b, err := RenderListen(m, tmpl, o.ListenAddr, o.HTTPPort)
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// RunApply renders the config for the current swarm state, tests, swaps and
// reloads once.
func RunApply(ctx context.Context, o Options, out, errw io.Writer) error {
	if err := o.checkOut(); err != nil {
		return err
	}
	dopts, tmpl, err := o.prepare()
	if err != nil {
		return err
	}
	c, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return apply(ctx, c, dopts, tmpl, o, &Applier{Path: o.Out, TestCommand: o.TestCommand, ReloadCommand: o.ReloadCommand}, out, errw)
}

func apply(ctx context.Context, l discovery.Lister, dopts discovery.Options, tmpl *Template, o Options, a ConfigApplier, out, errw io.Writer) error {
	m, err := readModel(ctx, l, dopts, errw)
	if err != nil {
		return err
	}
	b, err := RenderListen(m, tmpl, o.ListenAddr, o.HTTPPort)
	if err != nil {
		return err
	}
	res, err := a.Apply(ctx, b)
	if err != nil {
		return err
	}
	servers := 0
	for _, s := range m.Services {
		for _, u := range s.Upstreams {
			servers += len(u.Servers)
		}
	}
	what := "written"
	switch {
	case !res.Changed:
		what = "is up to date"
	case res.Reloaded:
		what = "written, tested and nginx reloaded"
	}
	fmt.Fprintf(out, "%s %s (%d upstreams, %d servers)\n", o.Out, what, len(upstreamNames(m)), servers)
	return nil
}

// readModel reads the swarm into the routing model, reporting each skipped
// service's problem on errw.
func readModel(ctx context.Context, l discovery.Lister, dopts discovery.Options, errw io.Writer) (discovery.Model, error) {
	m, warnings, err := discovery.Read(ctx, l, dopts)
	if err != nil {
		return discovery.Model{}, err
	}
	for _, w := range warnings {
		fmt.Fprintf(errw, "warning: %v\n", w)
	}
	return m, nil
}

// RunWatch keeps the config at o.Out in step with the swarm until ctx ends.
func RunWatch(ctx context.Context, o Options, out, errw io.Writer) error {
	if err := o.checkOut(); err != nil {
		return err
	}
	dopts, tmpl, err := o.prepare()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(errw, nil)).With("component", "watch")
	met := NewMetrics()
	if o.MetricsAddr != "" {
		ln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on --metrics-addr %s: %w; pick a free address", o.MetricsAddr, err)
		}
		srv := &http.Server{Handler: met.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	c, err := connectWithRetry(ctx, log)
	if err != nil {
		return err
	}
	if c == nil {
		return nil // interrupted while waiting for the engine
	}
	defer c.Close()
	src := &discovery.EngineSource{Engine: c, Options: dopts, Logger: log}
	log.Info("watching the swarm", "out", o.Out, "stacks", fmt.Sprint(o.Stacks), "backend", dopts.Backend)
	return Watch(ctx, WatchConfig{
		Source: src, Template: tmpl, HTTPPort: o.HTTPPort, ListenAddr: o.ListenAddr, Timing: o.Timing, Logger: log, Metrics: met,
		Applier: &Applier{Path: o.Out, TestCommand: o.TestCommand, ReloadCommand: o.ReloadCommand},
	})
}

// connectWithRetry connects to the engine, retrying with back-off while it
// is unreachable (a watcher may start before dockerd); nil when ctx ends first.
func connectWithRetry(ctx context.Context, log *slog.Logger) (*client.Client, error) {
	b := backoff{min: DefaultTiming.BackoffMin, max: DefaultTiming.BackoffMax}
	for {
		c, err := engine.Connect(ctx)
		if err == nil {
			return c, nil
		}
		d := b.next()
		log.Warn("engine not reachable yet; retrying", "err", err, "retry_in", d)
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(d):
		}
	}
}
