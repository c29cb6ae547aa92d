// Package testbed brings up a real multi-node Docker swarm on one machine for
// end-to-end tests: one dockerd per node, each in its own network namespace
// on the bridge br-dh (node I at 10.99.0.1I, engine socket /run/dhI.sock,
// hostname nodeI), joined as managers (and workers), with the test registry
// relayed to 10.99.0.1:5000 for the nodes. The nodes run Debian's engine or
// the current one (Options.Engine); each can also listen on
// tcp://10.99.0.1I:2376 with --tlsverify (Options.TLS) and run an sshd on
// 10.99.0.1I:22 whose sessions reach its engine (Options.SSH). It can crash, stop and restart a
// node's engine, and tears everything down when the test ends, pass or fail;
// it also removes what a crashed earlier run left behind. One test bed runs
// per machine at a time: New waits for the previous one to finish.
package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
)

// RegistryPort is the port of the relayed test registry on BridgeAddr.
const RegistryPort = "5000"

// TLSPort is the port of a node's TLS listener (Options.TLS).
const TLSPort = "2376"

// Engine is which Docker engine the nodes run.
type Engine int

const (
	// EngineDebian is Debian's docker.io (Engine 20.10, API 1.41), the default.
	EngineDebian Engine = iota
	// EngineCurrent is the current engine hack/testenv.sh up builds
	// (testenv.CurrentEngine), run with its own runc under Debian's containerd.
	EngineCurrent
)

func (e Engine) String() string {
	switch e {
	case EngineDebian:
		return "debian"
	case EngineCurrent:
		return "current"
	}
	return fmt.Sprintf("Engine(%d)", int(e))
}

// Options says what swarm to bring up.
type Options struct {
	Managers int    // manager nodes; 3 when zero
	Workers  int    // worker nodes, after the managers
	Registry bool   // relay the test registry (testenv.Registry) to BridgeAddr:5000 for the nodes
	Engine   Engine // which engine every node runs; Debian's when zero
	// TLS makes every engine also listen on tcp://ADDR:2376 with --tlsverify
	// and certificates the test makes with openssl (Bed.TLS, Node.TLSHost).
	TLS bool
	// SSH runs an sshd in every node's namespace on ADDR:22 whose sessions
	// reach that node's engine (SetEnv DOCKER_HOST); Bed.SSH is the client
	// side, Node.SSHHost the engine address.
	SSH bool
	// HeartbeatPeriod is the swarm dispatcher heartbeat; zero keeps swarm's
	// default (5s). Shorter makes a stopped node show as down sooner.
	HeartbeatPeriod time.Duration
}

// Node is one engine of the test bed.
type Node struct {
	Index   int    // position in Bed.Nodes (0-based)
	Name    string // hostname and swarm node name: node1, node2, ...
	Addr    string // address on the bridge: 10.99.0.11, 10.99.0.12, ...
	Host    string // engine address for DOCKER_HOST: unix:///run/dh1.sock
	Manager bool   // joined as a manager
	ID      string // swarm node ID
	// TLSHost is the engine's TLS address, tcp://10.99.0.11:2376 (Options.TLS).
	TLSHost string
	// SSHHost is the engine address through the node's sshd,
	// ssh://root@10.99.0.11 (Options.SSH); SSH is that sshd.
	SSHHost string
	SSH     *testenv.SSHServer

	client  *client.Client
	dir     string // state directory (data root, logs)
	ns      string // network namespace and cgroup parent
	dockerd *testenv.Daemon
	tls     *serverTLS // the engine's certificate (Options.TLS)
	engine  Engine
	current testenv.CurrentBuild // the binaries for EngineCurrent
}

// Bed is a running multi-node swarm.
type Bed struct {
	Nodes []*Node
	// Took is how long New took to bring the swarm up.
	Took time.Duration
	// Engine is the engine the nodes run.
	Engine Engine

	t        testing.TB
	tls      *bedTLS
	ssh      *testenv.SSHClient
	log      *slog.Logger
	lock     *os.File
	registry testenv.RegistryInfo
	hostReg  string // the registry address on the host, e.g. 127.0.0.1:5000
	fwd      *forwarder
	once     sync.Once
	tornErr  error
}

// tlog writes slog records to the test log.
type tlog struct{ t testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// New brings up the swarm described by opts and tears it down when t ends.
// It fails (CI=true) or skips the test when the machine cannot host it.
func New(t testing.TB, opts Options) *Bed {
	t.Helper()
	testenv.UnitOnly(t)
	if opts.Managers == 0 {
		opts.Managers = 3
	}
	if n := opts.Managers + opts.Workers; n > maxNodes || opts.Managers < 1 || opts.Workers < 0 {
		t.Fatalf("testbed: %d managers and %d workers; want 1 to %d nodes with at least one manager", opts.Managers, opts.Workers, maxNodes)
	}
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "the test bed needs root (network namespaces, bridges, dockerd)")
	}
	for _, tool := range []string{"ip", "iptables", "nsenter", "unshare", "dockerd", "sh", "hostname"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, "the test bed needs %s on PATH; run `make testenv` to install docker.io and iproute2", tool)
		}
	}
	var current testenv.CurrentBuild
	switch opts.Engine {
	case EngineDebian:
	case EngineCurrent:
		current = testenv.CurrentEngine(t)
	default:
		t.Fatalf("testbed: unknown engine %v", opts.Engine)
	}
	start := time.Now()
	b := &Bed{t: t, Engine: opts.Engine, log: slog.New(slog.NewTextHandler(tlog{t}, nil)).With("component", "testbed")}
	if opts.TLS {
		tls, err := newBedTLS(testenv.OpenSSL(t), t.TempDir())
		if err != nil {
			t.Fatalf("testbed: make TLS certificates: %v", err)
		}
		b.tls = tls
	}
	if opts.SSH {
		b.ssh = testenv.NewSSHClient(t)
	}
	if opts.Registry {
		r := testenv.Registry(t)
		b.hostReg = r.Addr
		b.registry = r
		b.registry.Addr = BridgeAddr + ":" + RegistryPort
	}
	if err := b.acquire(); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Teardown(); err != nil {
			t.Errorf("testbed teardown: %v", err)
		}
	})
	if err := cleanupHost(); err != nil {
		t.Fatalf("testbed: remove the leftovers of an earlier run: %v; remove them by hand (ip netns, ip link del %s, iptables -D FORWARD ...)", err, bridge)
	}
	if err := b.up(opts, current); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	if opts.SSH {
		for _, n := range b.Nodes {
			n.SSH = b.ssh.Serve(t, testenv.SSHListen(n.Addr+":22"), testenv.SSHNetns(netnsPath(n.ns)), testenv.SSHDockerHost(n.Host))
			n.SSHHost = n.SSH.Host
		}
	}
	b.Took = time.Since(start)
	b.log.Info("swarm up", "engine", opts.Engine, "managers", opts.Managers, "workers", opts.Workers,
		"tls", opts.TLS, "ssh", opts.SSH, "took", b.Took.Round(time.Millisecond))
	return b
}

// acquire takes the machine-wide test bed lock, waiting for another bed.
func (b *Bed) acquire() error {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open lock %s: %w", lockPath, err)
	}
	deadline := time.Now().Add(20 * time.Minute)
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			b.lock = f
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			return fmt.Errorf("lock %s: %w; another test bed is running (one per machine)", lockPath, err)
		}
		if !logged {
			b.log.Info("waiting for another test bed to finish", "lock", lockPath)
			logged = true
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *Bed) up(opts Options, current testenv.CurrentBuild) error {
	if err := setupBridge(); err != nil {
		return err
	}
	n := opts.Managers + opts.Workers
	for i := range n {
		num := i + 1
		node := &Node{
			Index: i, Name: fmt.Sprintf("node%d", num), Addr: nodeAddr(num), Host: "unix://" + socketPath(num),
			Manager: i < opts.Managers, ns: netnsName(num), dir: filepath.Join(stateRoot, netnsName(num)),
			engine: opts.Engine, current: current,
		}
		if b.tls != nil {
			st, err := b.tls.server(node.Name, node.Addr)
			if err != nil {
				return fmt.Errorf("TLS certificate for %s: %w", node.Name, err)
			}
			node.tls = st
			node.TLSHost = "tcp://" + node.Addr + ":" + TLSPort
		}
		if err := setupNetns(num); err != nil {
			return err
		}
		c, err := client.New(client.WithHost(node.Host), client.WithAPIVersionNegotiation())
		if err != nil {
			return fmt.Errorf("client for %s: %w", node.Name, err)
		}
		node.client = c
		b.Nodes = append(b.Nodes, node)
	}
	t0 := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, node := range b.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = node.start()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b.log.Info("engines answer", "nodes", n, "took", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := b.join(opts); err != nil {
		return err
	}
	b.log.Info("swarm joined", "took", time.Since(t0).Round(time.Millisecond))
	if opts.Registry {
		f, err := forward(b.registry.Addr, b.hostReg, b.log)
		if err != nil {
			return fmt.Errorf("relay the registry %s to %s: %w", b.hostReg, b.registry.Addr, err)
		}
		b.fwd = f
	}
	return nil
}

// join makes node 0 a swarm and joins the others, then waits until every
// node is ready and every manager reachable.
func (b *Bed) join(opts Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	first := b.Nodes[0]
	init := client.SwarmInitOptions{ListenAddr: first.Addr + ":2377", AdvertiseAddr: first.Addr}
	init.Spec.Dispatcher.HeartbeatPeriod = opts.HeartbeatPeriod
	if _, err := first.client.SwarmInit(ctx, init); err != nil {
		return fmt.Errorf("swarm init on %s: %w", first.Name, err)
	}
	sw, err := first.client.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return fmt.Errorf("swarm inspect on %s: %w", first.Name, err)
	}
	for _, node := range b.Nodes[1:] {
		token := sw.Swarm.JoinTokens.Worker
		if node.Manager {
			token = sw.Swarm.JoinTokens.Manager
		}
		// Managers join one at a time: raft takes one membership change at once.
		if _, err := node.client.SwarmJoin(ctx, client.SwarmJoinOptions{
			ListenAddr: node.Addr + ":2377", AdvertiseAddr: node.Addr,
			RemoteAddrs: []string{first.Addr + ":2377"}, JoinToken: token,
		}); err != nil {
			return fmt.Errorf("%s joins the swarm at %s: %w", node.Name, first.Addr, err)
		}
	}
	for {
		nodes, err := first.client.NodeList(ctx, client.NodeListOptions{})
		if err == nil && b.settled(nodes.Items) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the swarm did not settle (all nodes ready, managers reachable): %w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// settled records node IDs and reports whether every node is ready and
// every manager reachable.
func (b *Bed) settled(nodes []swarm.Node) bool {
	byAddr := map[string]swarm.Node{}
	for _, n := range nodes {
		byAddr[n.Status.Addr] = n
	}
	for _, node := range b.Nodes {
		n, ok := byAddr[node.Addr]
		if !ok || n.Status.State != swarm.NodeStateReady {
			return false
		}
		if node.Manager && (n.ManagerStatus == nil || n.ManagerStatus.Reachability != swarm.ReachabilityReachable) {
			return false
		}
		node.ID = n.ID
	}
	return true
}

// start runs the node's dockerd inside its namespace and waits until it answers.
func (n *Node) start() error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	cfg := filepath.Join(n.dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		return err
	}
	if n.dockerd == nil {
		n.dockerd = &testenv.Daemon{
			Name: "the engine of " + n.Name, Argv: n.dockerdArgv(cfg), Log: filepath.Join(n.dir, "dockerd.log"),
			Timeout: 90 * time.Second,
			Ready: func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := n.client.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
				return err
			},
		}
	}
	return n.dockerd.Start()
}

// dockerdArgv is the command that runs the node's engine in its namespace.
func (n *Node) dockerdArgv(cfg string) []string {
	num := n.Index + 1
	dockerd := "dockerd"
	if n.engine == EngineCurrent {
		dockerd = n.current.Dockerd
	}
	// nsenter, not "ip netns exec", which remounts /sys and loses the cgroup v1
	// mounts; a private mount namespace keeps the node's mounts off the host.
	argv := []string{"nsenter", "--net=" + netnsPath(n.ns),
		"unshare", "--uts", "--mount", "--propagation", "private",
		"sh", "-c", `hostname "$0" && exec "$@"`, n.Name,
		dockerd,
		"--config-file", cfg,
		"--data-root", filepath.Join(n.dir, "data"),
		"--exec-root", filepath.Join(execRoot, n.ns),
		"--host", n.Host,
		"--pidfile", filepath.Join(n.dir, "dockerd.pid"),
		"--cgroup-parent", n.ns,
		"--bip", fmt.Sprintf("172.30.%d.1/24", num),
		"--insecure-registry", BridgeAddr + ":" + RegistryPort,
		"--log-level", "warn",
	}
	if n.tls != nil {
		argv = append(argv, "--host", n.TLSHost, "--tlsverify",
			"--tlscacert", n.tls.ca, "--tlscert", n.tls.cert, "--tlskey", n.tls.key)
	}
	if n.engine == EngineCurrent {
		// Debian's runc 1.1 lacks the time namespace the current engine asks
		// for; its seccomp profile needs a runc built with seccomp, and the
		// userland proxy binary is not built.
		argv = append(argv, "--add-runtime", "newrunc="+n.current.Runc, "--default-runtime", "newrunc",
			"--seccomp-profile", "unconfined", "--userland-proxy=false")
	}
	return argv
}

// signal sends sig to the node's dockerd and waits up to wait for it to exit.
func (n *Node) signal(sig syscall.Signal, wait time.Duration) error {
	if n.dockerd == nil {
		return nil
	}
	return n.dockerd.Signal(sig, wait)
}

// logTail is the end of the node's dockerd log.
func (n *Node) logTail(lines int) string {
	if n.dockerd == nil {
		return ""
	}
	return n.dockerd.LogTail(lines)
}

func (b *Bed) node(i int) *Node {
	if i < 0 || i >= len(b.Nodes) {
		b.t.Fatalf("testbed: no node %d; the bed has nodes 0 to %d", i, len(b.Nodes)-1)
	}
	return b.Nodes[i]
}

// Client is the API client of node i (0-based); it stays valid across Stop/Start.
func (b *Bed) Client(i int) *client.Client { return b.node(i).client }

// Clients are the API clients of all nodes, in node order.
func (b *Bed) Clients() []*client.Client {
	cs := make([]*client.Client, len(b.Nodes))
	for i, n := range b.Nodes {
		cs[i] = n.client
	}
	return cs
}

// Addrs are the nodes' addresses on the bridge, in node order.
func (b *Bed) Addrs() []string {
	as := make([]string, len(b.Nodes))
	for i, n := range b.Nodes {
		as[i] = n.Addr
	}
	return as
}

// Env is the process environment with DOCKER_HOST pointing at node i, for
// running the deckhand or docker binaries against it.
func (b *Bed) Env(i int) []string {
	return append(envWithoutTarget(), "DOCKER_HOST="+b.node(i).Host)
}

// TLSEnv is the process environment that reaches node i's engine over TLS:
// DOCKER_HOST=tcp://ADDR:2376, DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH
// holding the client certificate. It needs Options.TLS.
func (b *Bed) TLSEnv(i int) []string {
	n, f := b.node(i), b.TLS()
	return append(envWithoutTarget(), "DOCKER_HOST="+n.TLSHost, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH="+f.Dir)
}

// SSHEnv is the process environment that reaches node i's engine through
// its sshd: DOCKER_HOST=ssh://root@ADDR and the ssh shim first on PATH. It
// needs Options.SSH.
func (b *Bed) SSHEnv(i int) []string {
	n := b.node(i)
	return append(b.SSH().PathEnv(envWithoutTarget()), "DOCKER_HOST="+n.SSHHost)
}

// envWithoutTarget is the process environment without the variables that
// choose a docker engine.
func envWithoutTarget() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH":
		default:
			env = append(env, kv)
		}
	}
	return env
}

// TLS is the client certificate set the nodes' TLS listeners accept. It
// needs Options.TLS.
func (b *Bed) TLS() TLSFiles {
	if b.tls == nil {
		b.t.Fatalf("testbed: the engines do not listen on TLS; set Options.TLS")
	}
	return b.tls.client
}

// UntrustedTLS is a client certificate set the engines reject: it trusts the
// bed's CA but its certificate is signed by another one. It needs Options.TLS.
func (b *Bed) UntrustedTLS() TLSFiles {
	if b.tls == nil {
		b.t.Fatalf("testbed: the engines do not listen on TLS; set Options.TLS")
	}
	return b.tls.untrusted
}

// SSH is the ssh client side that trusts every node's sshd and whose key
// they accept: put its ShimDir first on PATH (UsePATH, PathEnv). It needs
// Options.SSH.
func (b *Bed) SSH() *testenv.SSHClient {
	if b.ssh == nil {
		b.t.Fatalf("testbed: the nodes run no sshd; set Options.SSH")
	}
	return b.ssh
}

// Registry is the test registry as the nodes reach it (Addr 10.99.0.1:5000).
// It needs Options.Registry.
func (b *Bed) Registry() testenv.RegistryInfo {
	if b.fwd == nil {
		b.t.Fatalf("testbed: the registry is not relayed; set Options.Registry")
	}
	return b.registry
}

// StopRegistry makes the registry unreachable for the nodes, as if it had
// stopped: the relay stops listening and cuts its connections (the host's
// registry, which other tests share, keeps running). StartRegistry undoes it.
func (b *Bed) StopRegistry() error {
	b.Registry()
	return b.fwd.Close()
}

// StartRegistry relays the registry to the nodes again after StopRegistry.
func (b *Bed) StartRegistry() error {
	f, err := forward(b.registry.Addr, b.hostReg, b.log)
	if err != nil {
		return fmt.Errorf("relay the registry %s to %s again: %w", b.hostReg, b.registry.Addr, err)
	}
	b.fwd = f
	return nil
}

// ImageRef turns a reference pushed to the host's test registry
// (127.0.0.1:5000/NAME...) into the one the nodes pull (10.99.0.1:5000/NAME...).
func (b *Bed) ImageRef(hostRef string) string {
	r := b.Registry()
	rest, ok := strings.CutPrefix(hostRef, b.hostReg+"/")
	if !ok {
		b.t.Fatalf("testbed: %q is not in the test registry %s", hostRef, b.hostReg)
	}
	return r.Addr + "/" + rest
}

// Kill crashes the engines of the given nodes (0-based) with SIGKILL, in
// parallel: their containers keep running, as after an engine crash. Start
// brings them back.
func (b *Bed) Kill(nodes ...int) error {
	return b.each(nodes, "killing engine", func(n *Node) error { return n.signal(syscall.SIGKILL, 30*time.Second) })
}

// Stop shuts the engines of the given nodes down cleanly with SIGTERM, in
// parallel; their containers stop.
func (b *Bed) Stop(nodes ...int) error {
	return b.each(nodes, "stopping engine", func(n *Node) error { return n.signal(syscall.SIGTERM, 60*time.Second) })
}

// Start restarts the stopped or killed engines of the given nodes in parallel
// and waits until they answer; the nodes rejoin the swarm by themselves.
// Restart nodes together when the swarm lost quorum: an engine that was a
// manager only answers once its swarm component is up, which needs quorum.
func (b *Bed) Start(nodes ...int) error {
	return b.each(nodes, "starting engine", (*Node).start)
}

// each runs f on the given nodes in parallel.
func (b *Bed) each(nodes []int, what string, f func(*Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for k, i := range nodes {
		n := b.node(i)
		b.log.Info(what, "node", n.Name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = f(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Running reports whether node i's engine process is running.
func (b *Bed) Running(i int) bool {
	n := b.node(i)
	return n.dockerd != nil && n.dockerd.Running()
}

// LoadImages copies images from another engine (usually testenv.Engine) into
// every running node, for tests that do not pull from the registry.
func (b *Bed) LoadImages(ctx context.Context, from *client.Client, refs ...string) error {
	rc, err := from.ImageSave(ctx, refs)
	if err != nil {
		return fmt.Errorf("save %v: %w", refs, err)
	}
	tarball, err := io.ReadAll(rc)
	_ = rc.Close()
	if err != nil {
		return fmt.Errorf("save %v: %w", refs, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(b.Nodes))
	for i, n := range b.Nodes {
		if !b.Running(i) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = loadInto(ctx, n, tarball)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func loadInto(ctx context.Context, n *Node, tarball []byte) error {
	res, err := n.client.ImageLoad(ctx, bytes.NewReader(tarball))
	if err != nil {
		return fmt.Errorf("load images into %s: %w", n.Name, err)
	}
	defer res.Close()
	dec := json.NewDecoder(res)
	for {
		var m struct {
			ErrorDetail *struct{ Message string } `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("load images into %s: %w", n.Name, err)
		}
		if m.ErrorDetail != nil {
			return fmt.Errorf("load images into %s: %s", n.Name, m.ErrorDetail.Message)
		}
	}
}

// Teardown kills every node, removes the namespaces, bridge, FORWARD rule,
// sockets, mounts, cgroups and state, and releases the machine lock. It runs
// by itself when the test ends; calling it earlier is fine.
func (b *Bed) Teardown() error {
	b.once.Do(func() {
		start := time.Now()
		if b.fwd != nil {
			_ = b.fwd.Close()
		}
		if b.t.Failed() {
			for _, n := range b.Nodes {
				b.t.Logf("last lines of %s's dockerd log:\n%s", n.Name, n.logTail(30))
			}
		}
		for _, n := range b.Nodes {
			if n.SSH != nil {
				_ = n.SSH.Stop()
			}
			_ = n.signal(syscall.SIGKILL, 30*time.Second)
			_ = n.client.Close()
		}
		b.tornErr = cleanupHost()
		if b.lock != nil {
			_ = b.lock.Close()
		}
		b.log.Info("torn down", "took", time.Since(start).Round(time.Millisecond))
	})
	return b.tornErr
}
