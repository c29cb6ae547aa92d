// Package testbed brings up a real multi-node Docker swarm on one machine for
// end-to-end tests: one dockerd per node, each in its own network namespace
// on the bridge br-dh (node I at 10.99.0.1I, engine socket /run/dhI.sock,
// hostname nodeI), joined as managers (and workers), with the test registry
// relayed to 10.99.0.1:5000 for the nodes. It can crash, stop and restart a
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

// Options says what swarm to bring up.
type Options struct {
	Managers int  // manager nodes; 3 when zero
	Workers  int  // worker nodes, after the managers
	Registry bool // relay the test registry (testenv.Registry) to BridgeAddr:5000 for the nodes
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

	client *client.Client
	dir    string // state directory (data root, logs)
	ns     string // network namespace and cgroup parent
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the running dockerd exits
}

// Bed is a running multi-node swarm.
type Bed struct {
	Nodes []*Node
	// Took is how long New took to bring the swarm up.
	Took time.Duration

	t        testing.TB
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
	start := time.Now()
	b := &Bed{t: t, log: slog.New(slog.NewTextHandler(tlog{t}, nil)).With("component", "testbed")}
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
	if err := b.up(opts); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	b.Took = time.Since(start)
	b.log.Info("swarm up", "managers", opts.Managers, "workers", opts.Workers, "took", b.Took.Round(time.Millisecond))
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

func (b *Bed) up(opts Options) error {
	if err := setupBridge(); err != nil {
		return err
	}
	n := opts.Managers + opts.Workers
	for i := range n {
		num := i + 1
		node := &Node{
			Index: i, Name: fmt.Sprintf("node%d", num), Addr: nodeAddr(num), Host: "unix://" + socketPath(num),
			Manager: i < opts.Managers, ns: netnsName(num), dir: filepath.Join(stateRoot, netnsName(num)),
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
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.done:
		default:
			return fmt.Errorf("the engine of %s is already running", n.Name)
		}
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	cfg := filepath.Join(n.dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(n.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	num := n.Index + 1
	// nsenter, not "ip netns exec", which remounts /sys and loses the cgroup v1
	// mounts; a private mount namespace keeps the node's mounts off the host.
	cmd := exec.Command("nsenter", "--net=/var/run/netns/"+n.ns,
		"unshare", "--uts", "--mount", "--propagation", "private",
		"sh", "-c", `hostname "$0" && exec "$@"`, n.Name,
		"dockerd",
		"--config-file", cfg,
		"--data-root", filepath.Join(n.dir, "data"),
		"--exec-root", filepath.Join(execRoot, n.ns),
		"--host", n.Host,
		"--pidfile", filepath.Join(n.dir, "dockerd.pid"),
		"--cgroup-parent", n.ns,
		"--bip", fmt.Sprintf("172.30.%d.1/24", num),
		"--insecure-registry", BridgeAddr+":"+RegistryPort,
		"--log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the engine of %s: %w", n.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := n.client.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("the engine of %s exited while starting: %s\n%s", n.Name, cmd.ProcessState, n.logTail(20))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the engine of %s did not answer on %s within 90s: %v\n%s", n.Name, n.Host, err, n.logTail(20))
		}
	}
}

// signal sends sig to the node's dockerd and waits up to wait for it to exit.
func (n *Node) signal(sig syscall.Signal, wait time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil
	}
	select {
	case <-n.done:
		return nil
	default:
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal the engine of %s: %w", n.Name, err)
	}
	select {
	case <-n.done:
		return nil
	case <-time.After(wait):
		_ = n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("the engine of %s did not stop within %s after %s; killed it", n.Name, wait, sig)
	}
}

// logTail is the end of the node's dockerd log.
func (n *Node) logTail(lines int) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "dockerd.log"))
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
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
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "DOCKER_HOST" || k == "DOCKER_CONTEXT" || k == "DOCKER_TLS_VERIFY" || k == "DOCKER_CERT_PATH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "DOCKER_HOST="+b.node(i).Host)
}

// Registry is the test registry as the nodes reach it (Addr 10.99.0.1:5000).
// It needs Options.Registry.
func (b *Bed) Registry() testenv.RegistryInfo {
	if b.fwd == nil {
		b.t.Fatalf("testbed: the registry is not relayed; set Options.Registry")
	}
	return b.registry
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
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
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
