package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/nginx"
)

// The output formats of `deckhand nginx render`.
const (
	nginxFormatText = "text"
	nginxFormatJSON = "json"
)

// nginxOptions are the flags of `deckhand nginx render|apply` and `deckhand watch`.
type nginxOptions struct {
	target        *target // the engine to read
	stacks        []string
	nodeLabels    []string
	nodeAddr      string
	backend       string
	network       string
	template      string
	httpPort      int
	listenAddr    string
	out           string
	testCommand   string
	reloadCommand string
	metricsAddr   string
	format        string
	timing        nginx.Timing
}

// addNginxFlags registers the flags shared by render, apply and watch;
// withApply adds --out and the commands, withWatch the watch-only flags.
func addNginxFlags(flags *pflag.FlagSet, o *nginxOptions, withApply, withWatch bool) {
	flags.StringVar(&o.template, "template", "", "Go text/template file to render instead of the built-in one")
	flags.IntVar(&o.httpPort, "http-port", nginx.DefaultHTTPPort, "port the server blocks listen on")
	flags.StringVar(&o.listenAddr, "listen-addr", "", "IP address the server blocks listen on (default: every address)")
	flags.StringArrayVar(&o.nodeLabels, "node-label", nil, "only route ingress ports to nodes with this label (key=value, repeatable)")
	flags.StringVar(&o.nodeAddr, "node-addr", string(discovery.NodeAddrIP), `node address to use: "addr" (the node's swarm address) or "hostname"`)
	flags.StringVar(&o.backend, "backend", string(discovery.BackendPublished), `"published" (node address × published port) or "tasks" (task IPs on --network × target port)`)
	flags.StringVar(&o.network, "network", "", "network whose task IPs --backend tasks uses (name or ID)")
	if withApply {
		flags.StringVar(&o.out, "out", "", "config file to write (the file nginx includes inside http {})")
		flags.StringVar(&o.testCommand, "test-command", nginx.DefaultTestCommand, `command that tests the config in place (run with sh -c; "" skips the test)`)
		flags.StringVar(&o.reloadCommand, "reload-command", nginx.DefaultReloadCommand, `command that reloads nginx (run with sh -c; "" skips the reload)`)
	}
	if withWatch {
		flags.StringVar(&o.metricsAddr, "metrics-addr", "", "serve a status page on /, /healthz and Prometheus /metrics on this address (e.g. 127.0.0.1:9180)")
		flags.DurationVar(&o.timing.FastPoll, "poll-fast", nginx.DefaultTiming.FastPoll, "task polling interval while a service is updating or converging")
		flags.DurationVar(&o.timing.SlowPoll, "poll-slow", nginx.DefaultTiming.SlowPoll, "task polling interval when the swarm is steady")
		flags.DurationVar(&o.timing.DebounceMin, "debounce-min", nginx.DefaultTiming.DebounceMin, "quiet time after the last change before applying")
		flags.DurationVar(&o.timing.DebounceMax, "debounce-max", nginx.DefaultTiming.DebounceMax, "longest a change waits while changes keep coming")
		flags.DurationVar(&o.timing.Resync, "resync", nginx.DefaultTiming.Resync, "period of the full re-render and apply")
		flags.DurationVar(&o.timing.KeepRemoved, "keep-removed", nginx.DefaultTiming.KeepRemoved, "how long a removed service's routes keep answering 503")
	}
}

// discoveryOptions checks the flags and turns them into discovery options.
func (o nginxOptions) discoveryOptions() (discovery.Options, error) {
	labels, err := parseNodeLabels(o.nodeLabels)
	if err != nil {
		return discovery.Options{}, err
	}
	if err := nginx.CheckListenAddr(o.listenAddr); err != nil {
		return discovery.Options{}, fmt.Errorf("listen address %q is not an IP address; use --listen-addr 127.0.0.1 or similar", o.listenAddr)
	}
	d := discovery.Options{Stacks: o.stacks, NodeLabels: labels, NodeAddr: discovery.NodeAddr(o.nodeAddr), Backend: discovery.Backend(o.backend), Network: o.network}
	switch {
	case d.Backend == discovery.BackendTasks && d.Network == "":
		return discovery.Options{}, errors.New("--backend tasks needs --network NET, the overlay network nginx shares with the services")
	case (d.Backend == "" || d.Backend == discovery.BackendPublished) && d.Network != "":
		return discovery.Options{}, errors.New("--network only applies to --backend tasks; add --backend tasks or drop --network")
	}
	if err := d.Check(); err != nil {
		return discovery.Options{}, err
	}
	if o.httpPort < 1 || o.httpPort > 65535 {
		return discovery.Options{}, fmt.Errorf("--http-port %d is out of range; use a port between 1 and 65535", o.httpPort)
	}
	return d, nil
}

// parseNodeLabels turns repeated --node-label key=value flags into a label filter.
func parseNodeLabels(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("node label filter %q is not key=value; write it like --node-label zone=edge", kv)
		}
		out[k] = v
	}
	return out, nil
}

func (o nginxOptions) checkOut() error {
	if o.out == "" {
		return errors.New("--out is required: the config file nginx includes, e.g. --out /etc/nginx/conf.d/deckhand.conf")
	}
	return nil
}

// loadTemplate loads --template, or the built-in template without it.
func (o nginxOptions) loadTemplate() (*nginx.Template, error) {
	tmpl, err := nginx.LoadTemplate(o.template)
	var te *nginx.TemplateError
	var pe *fs.PathError
	switch {
	case errors.As(err, &te):
		return nil, fmt.Errorf("parse template %s: %w; fix the template (see --help of nginx render for its data)", te.Name, te.Err)
	case errors.As(err, &pe):
		return nil, fmt.Errorf("read template: %w; check --template", pe)
	}
	return tmpl, err
}

// prepare checks the options every command shares and loads the template.
func (o nginxOptions) prepare() (discovery.Options, *nginx.Template, error) {
	dopts, err := o.discoveryOptions()
	if err != nil {
		return discovery.Options{}, nil, err
	}
	tmpl, err := o.loadTemplate()
	if err != nil {
		return discovery.Options{}, nil, err
	}
	return dopts, tmpl, nil
}

// connect is prepare, then the connection to the engine; the caller
// closes the client.
func (o nginxOptions) connect(ctx context.Context, errw io.Writer) (*engineConn, discovery.Options, *nginx.Template, error) {
	dopts, tmpl, err := o.prepare()
	if err != nil {
		return nil, discovery.Options{}, nil, err
	}
	c, err := o.target.connect(ctx)
	if err != nil {
		return nil, discovery.Options{}, nil, err
	}
	fmt.Fprintf(errw, "reading the swarm of %s\n", c)
	return c, dopts, tmpl, nil
}

// runNginxRender prints the config (or, with format json, the model) for
// the current swarm state without writing anything.
func runNginxRender(ctx context.Context, o nginxOptions, out, errw io.Writer) error {
	if o.format != "" && o.format != nginxFormatText && o.format != nginxFormatJSON {
		return fmt.Errorf("unknown format %q; use text or json", o.format)
	}
	c, dopts, tmpl, err := o.connect(ctx, errw)
	if err != nil {
		return err
	}
	defer c.Close()
	return renderNginx(ctx, c, c.JSON(), dopts, tmpl, o, out, errw)
}

// renderNginx writes the config for what l lists, or with format json the
// model with the target it was read from.
func renderNginx(ctx context.Context, l discovery.Lister, target engineJSON, dopts discovery.Options, tmpl *nginx.Template, o nginxOptions, out, errw io.Writer) error {
	m, err := readNginxModel(ctx, l, dopts, errw)
	if err != nil {
		return err
	}
	if o.format == nginxFormatJSON {
		return writeJSON(out, struct {
			discovery.Model
			Target engineJSON `json:"target"`
		}{m, target})
	}
	b, err := nginx.RenderListen(m, tmpl, o.listenAddr, o.httpPort)
	if err != nil {
		return err
	}
	_, err = out.Write(b)
	return err
}

// runNginxApply renders the config for the current swarm state, tests,
// swaps and reloads once.
func runNginxApply(ctx context.Context, o nginxOptions, out, errw io.Writer) error {
	if err := o.checkOut(); err != nil {
		return err
	}
	c, dopts, tmpl, err := o.connect(ctx, errw)
	if err != nil {
		return err
	}
	defer c.Close()
	return applyNginx(ctx, c, dopts, tmpl, o, o.applier(), out, errw)
}

// applier puts the config at --out with the test and reload commands.
func (o nginxOptions) applier() *nginx.Applier {
	return &nginx.Applier{Path: o.out, TestCommand: o.testCommand, ReloadCommand: o.reloadCommand}
}

func applyNginx(ctx context.Context, l discovery.Lister, dopts discovery.Options, tmpl *nginx.Template, o nginxOptions, a nginx.ConfigApplier, out, errw io.Writer) error {
	m, err := readNginxModel(ctx, l, dopts, errw)
	if err != nil {
		return err
	}
	b, err := nginx.RenderListen(m, tmpl, o.listenAddr, o.httpPort)
	if err != nil {
		return err
	}
	res, err := a.Apply(ctx, b)
	if err != nil {
		return err
	}
	upstreams, servers := 0, 0
	for _, s := range m.Services {
		upstreams += len(s.Upstreams)
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
	fmt.Fprintf(out, "%s %s (%d upstreams, %d servers)\n", o.out, what, upstreams, servers)
	return nil
}

// readNginxModel reads the swarm into the routing model, reporting each
// skipped service's problem on errw.
func readNginxModel(ctx context.Context, l discovery.Lister, dopts discovery.Options, errw io.Writer) (discovery.Model, error) {
	m, warnings, err := discovery.Read(ctx, l, dopts)
	if err != nil {
		return discovery.Model{}, err
	}
	for _, w := range warnings {
		fmt.Fprintf(errw, "warning: %v\n", w)
	}
	return m, nil
}
