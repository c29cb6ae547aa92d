package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/cli/cli/context/docker"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/moby/moby/client"
	"github.com/spf13/pflag"
)

// maxEngineConns is how many connections to one engine deckhand keeps open
// and reuses. Over ssh every connection is an ssh session running docker
// system dial-stdio on the far side, so a run reuses a few rather than
// dialling per request, and stays well under sshd's defaults (MaxStartups
// and MaxSessions, 10 each). Two was the quickest for a no-op deploy of 50
// services over ssh (median 0.16 s against 0.19 s with four, 0.18 s with
// one): each further session costs more to start than it saves.
const maxEngineConns = 2

// target is the engine deckhand's commands talk to, chosen exactly as the
// docker CLI chooses it: --host/-H, --context, DOCKER_HOST, DOCKER_CONTEXT,
// the current context of the docker config (--config, DOCKER_CONFIG), and
// --tls, --tlsverify, --tlscacert, --tlscert, --tlskey, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH. docker/cli resolves it; deckhand adds nothing of its own.
type target struct {
	opts *cliflags.ClientOptions
	// global is the docker CLI's own global flag set (with its -c, -D, -l
	// shorthands): what `docker [global flags] deckhand ...` hands a plugin.
	global *pflag.FlagSet
	// flags is where the engine flags are parsed in a command line of
	// deckhand's own (persistent flags of the root command).
	flags *pflag.FlagSet
}

// engineFlags are the docker CLI global flags deckhand's commands take.
var engineFlags = []string{"host", "context", "config", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey"}

// newTarget binds the docker CLI's global flags to a fresh target and adds
// those deckhand takes to fs, without the short forms that clash with
// deckhand's own (-c is the compose file; --context has no short form).
func newTarget(fs *pflag.FlagSet) *target {
	t := &target{opts: cliflags.NewClientOptions(), global: pflag.NewFlagSet("docker", pflag.ContinueOnError), flags: fs}
	t.opts.InstallFlags(t.global)
	t.global.SetInterspersed(false)
	t.global.SetOutput(io.Discard)
	for _, name := range engineFlags {
		f := *t.global.Lookup(name)
		if name == "context" {
			f.Shorthand = ""
		}
		f.Usage, f.DefValue = engineFlagHelp[name], ""
		fs.AddFlag(&f)
	}
	return t
}

// engineFlagHelp is the help of the engine flags, in deckhand's words and
// without this machine's paths.
var engineFlagHelp = map[string]string{
	"host":      "engine to talk to: unix:///var/run/docker.sock, tcp://HOST:2376 or ssh://USER@HOST[:PORT] (default: DOCKER_HOST, or the context)",
	"context":   `docker context to use (default: DOCKER_CONTEXT, or the one "docker context use" chose)`,
	"config":    "docker config directory: contexts and registry credentials (default: DOCKER_CONFIG, or ~/.docker)",
	"tls":       "use TLS; implied by --tlsverify",
	"tlsverify": "use TLS and verify the engine's certificate (default: DOCKER_TLS_VERIFY)",
	"tlscacert": "trust only certificates signed by this CA (default: DOCKER_CERT_PATH/ca.pem, or ~/.docker/ca.pem)",
	"tlscert":   "client certificate (default: DOCKER_CERT_PATH/cert.pem, or ~/.docker/cert.pem)",
	"tlskey":    "client key (default: DOCKER_CERT_PATH/key.pem, or ~/.docker/key.pem)",
}

// parsePluginGlobals parses the docker CLI global flags docker puts before
// the plugin's name (`docker --context prod deckhand deploy ...` runs
// `docker-deckhand --context prod deckhand deploy ...`) and returns the
// rest of the command line.
func (t *target) parsePluginGlobals(args []string) ([]string, error) {
	if err := t.global.Parse(args); err != nil {
		return nil, fmt.Errorf("docker's global flags: %w", err)
	}
	t.global.Visit(func(f *pflag.Flag) {
		if own := t.flags.Lookup(f.Name); own != nil {
			own.Changed = true
		}
	})
	return t.global.Args(), nil
}

// engineConn is a connection to the target engine.
type engineConn struct {
	client.APIClient
	Context string                 // the docker context in use ("default" for DOCKER_HOST/-H)
	Host    string                 // the engine's address: unix://..., tcp://..., ssh://user@host
	Config  *configfile.ConfigFile // the docker config of the target, for registry credentials
}

// String names the target for people: context prod (ssh://deploy@manager1).
func (c *engineConn) String() string { return fmt.Sprintf("context %s (%s)", c.Context, c.Host) }

// engineJSON is the target in JSON results.
type engineJSON struct {
	Context string `json:"context"`
	Host    string `json:"host"`
}

// JSON is the target as JSON results carry it.
func (c *engineConn) JSON() engineJSON { return engineJSON{Context: c.Context, Host: c.Host} }

// connect resolves the target with docker/cli, connects to it and checks
// that the engine answers, negotiating the API version down to the engine's
// (API 1.41, Engine 20.10, is the oldest supported).
func (t *target) connect(ctx context.Context) (*engineConn, error) {
	if !t.flags.Changed("config") {
		// docker/cli remembers DOCKER_CONFIG from its first look for the
		// life of the process; read it now, as the docker CLI would start.
		if dir := os.Getenv(config.EnvOverrideConfigDir); dir != "" {
			t.opts.ConfigDir = dir
		} else if home, err := os.UserHomeDir(); err == nil {
			t.opts.ConfigDir = filepath.Join(home, ".docker")
		}
	}
	t.opts.SetDefaultOptions(t.flags)
	dcli, err := command.NewDockerCli(command.WithInputStream(io.NopCloser(strings.NewReader(""))),
		command.WithOutputStream(io.Discard), command.WithErrorStream(io.Discard))
	if err != nil {
		return nil, fmt.Errorf("set up the docker client: %w", err)
	}
	if err := dcli.Initialize(t.opts); err != nil {
		return nil, fmt.Errorf("%w; give either --host (-H) or --context, not both", err)
	}
	name := dcli.CurrentContext()
	store := dcli.ContextStore()
	meta, err := store.GetMetadata(name)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("docker context %q does not exist; list the contexts with docker context ls, or choose another with --context or DOCKER_CONTEXT", name)
	}
	if err != nil {
		return nil, fmt.Errorf("docker context %q: %w; list the contexts with docker context ls, or choose another with --context or DOCKER_CONTEXT", name, err)
	}
	epMeta, err := docker.EndpointFromContext(meta)
	if err != nil {
		return nil, fmt.Errorf("docker context %q: %w; recreate it with docker context create", name, err)
	}
	ep, err := docker.WithTLSData(store, name, epMeta)
	if err != nil {
		return nil, fmt.Errorf("docker context %q: read its TLS files: %w; check --tlscacert, --tlscert, --tlskey or DOCKER_CERT_PATH", name, err)
	}
	conn := &engineConn{Context: name, Host: ep.Host, Config: dcli.ConfigFile()}
	opts, err := clientOpts(ep)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; check the host address (unix://, tcp://HOST:PORT or ssh://USER@HOST[:PORT])", conn, err)
	}
	if h := conn.Config.HTTPHeaders; len(h) > 0 {
		opts = append(opts, client.WithHTTPHeaders(h))
	}
	c, err := client.New(append(opts, client.WithUserAgent(command.UserAgent()))...)
	if err != nil {
		return nil, fmt.Errorf("%s: configure the docker client: %w", conn, err)
	}
	conn.APIClient = c
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		_ = c.Close()
		return nil, reachError(conn, err)
	}
	return conn, nil
}

// sshShare makes the ssh connections of one run, and of the runs that
// follow within a minute (a CI job's plan, deploy and status), share one
// ssh session through OpenSSH's connection multiplexing: only the first
// pays for the handshake. The control socket is private to the user
// (OpenSSH makes it 0600); without it ssh connects as usual.
var sshShare = []string{
	"-o", "ControlMaster=auto",
	"-o", "ControlPath=" + filepath.Join(os.TempDir(), "deckhand-ssh-%C"),
	"-o", "ControlPersist=60",
}

// clientOpts are docker/cli's client options for an endpoint, except that
// over ssh the connection pool is large enough for deckhand's parallel
// requests, so that connections (ssh processes) are reused, not redialled.
func clientOpts(ep docker.Endpoint) ([]client.Opt, error) {
	helper, err := connhelper.GetConnectionHelperWithSSHOpts(ep.Host, sshShare)
	if err != nil || helper == nil {
		return ep.ClientOpts()
	}
	return []client.Opt{
		client.WithHTTPClient(&http.Client{Transport: &http.Transport{
			DialContext:         helper.Dialer,
			MaxIdleConns:        maxEngineConns,
			MaxIdleConnsPerHost: maxEngineConns,
			MaxConnsPerHost:     maxEngineConns,
			IdleConnTimeout:     90 * time.Second,
		}}),
		client.WithHost(helper.Host),
		client.WithDialContext(helper.Dialer),
	}, nil
}

// reachError explains why the engine did not answer, with the fix for the
// usual causes.
func reachError(conn *engineConn, err error) error {
	msg := err.Error()
	var fix string
	switch {
	case strings.Contains(msg, "Host key verification failed"):
		fix = "the ssh host key is unknown or changed: check it, then add it to ~/.ssh/known_hosts (ssh-keyscan HOST >> ~/.ssh/known_hosts)"
	case strings.Contains(msg, "Permission denied"):
		fix = "ssh refused the login: check the user in the address, that your key is loaded (ssh-add -l) and listed in the remote user's ~/.ssh/authorized_keys"
	case strings.Contains(msg, "docker: command not found"), strings.Contains(msg, "docker: not found"):
		fix = "the remote host has no docker command: install the docker CLI there (docker system dial-stdio reaches the engine over ssh)"
	case strings.Contains(msg, "certificate"), strings.Contains(msg, "tls:"):
		fix = "the TLS handshake failed: check --tlscacert, --tlscert and --tlskey (or DOCKER_CERT_PATH) against the engine's certificates"
	case strings.HasPrefix(conn.Host, "ssh://"):
		fix = "check that ssh to the host works (ssh HOST docker version) and that dockerd runs there"
	default:
		fix = "start dockerd or point DOCKER_HOST, --host or --context at a running engine"
	}
	return fmt.Errorf("cannot reach the docker engine at %s: %w; %s", conn, err, fix)
}
