package testbed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/internal/testenv"
)

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/var/lib/x`:          "/var/lib/x",
		`/mnt/with\040space`:  "/mnt/with space",
		`/a\134b`:             `/a\b`,
		`/trailing\04`:        `/trailing\04`,
		`/var/lib/deckhand-x`: "/var/lib/deckhand-x",
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestForwarderRelaysBothWays(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	f, err := forward("127.0.0.1:0", echo.Addr().String(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping through the relay")); err != nil {
		t.Fatal(err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "ping through the relay" {
		t.Errorf("relayed echo = %q, %v", got, err)
	}
	_ = c.Close()
	// An idle connection must not keep Close from returning.
	idle, err := net.Dial("tcp", f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := net.Dial("tcp", f.ln.Addr().String()); err == nil {
		t.Errorf("the relay still accepts connections after Close")
	}
}

// managers summarises the managers' raft view as the given node reports it.
func managers(ctx context.Context, c *client.Client) (leaders int, reach map[string]swarm.Reachability, err error) {
	nodes, err := c.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return 0, nil, err
	}
	reach = map[string]swarm.Reachability{}
	for _, n := range nodes.Items {
		if n.ManagerStatus == nil {
			continue
		}
		reach[n.Description.Hostname] = n.ManagerStatus.Reachability
		if n.ManagerStatus.Leader {
			leaders++
		}
	}
	return leaders, reach, nil
}

// eventually polls cond every 200ms until it returns true or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < limit {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last state: %s", what, limit, last)
	return 0
}

// get fetches http://addr/ and returns the body.
func get(addr string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestSwarmOfThreeManagers(t *testing.T) {
	host := testenv.Engine(t)
	reg := testenv.Registry(t)
	ref := testenv.PushImage(t, host, testenv.BuildImage(t, host, reg.Addr+"/"+testenv.UniqueName(t)+":v1"))

	bed := New(t, Options{Managers: 3, Registry: true})
	t.Logf("timing: 3 managers up in %s", bed.Took.Round(time.Millisecond))
	ctx := context.Background()
	c := bed.Client(0)

	leaders, reach, err := managers(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]swarm.Reachability{"node1": "reachable", "node2": "reachable", "node3": "reachable"}
	if leaders != 1 || fmt.Sprint(reach) != fmt.Sprint(want) {
		t.Fatalf("managers: %d leaders, %v; want 1 leader and %v", leaders, reach, want)
	}

	// A service pulled through the relayed registry with auth, one replica per
	// node, answers on every node's address through a host-mode port.
	replicas := uint64(3)
	const port = 18080
	_, err = c.ServiceCreate(ctx, client.ServiceCreateOptions{
		Spec: swarm.ServiceSpec{
			Annotations: swarm.Annotations{Name: "web"},
			TaskTemplate: swarm.TaskSpec{
				ContainerSpec: &swarm.ContainerSpec{Image: bed.ImageRef(ref), Env: []string{"VERSION=v1"}},
				Placement:     &swarm.Placement{MaxReplicas: 1},
			},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
			EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
				Protocol: network.TCP, TargetPort: 8080, PublishedPort: port,
				PublishMode: swarm.PortConfigPublishModeHost,
			}}},
		},
		EncodedRegistryAuth: bed.Registry().EncodedAuth(),
	})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	took := eventually(t, 120*time.Second, "the service answers on every node", func() (bool, string) {
		var states []string
		for _, addr := range bed.Addrs() {
			body, err := get(fmt.Sprintf("%s:%d", addr, port))
			if err != nil || !strings.HasSuffix(body, " version=v1\n") {
				states = append(states, fmt.Sprintf("%s: %q %v", addr, body, err))
			}
		}
		return len(states) == 0, strings.Join(states, "; ")
	})
	t.Logf("timing: service with host-mode ports answering on all 3 nodes in %s", took.Round(time.Millisecond))

	// One manager down: a leader remains and the node shows unreachable.
	if err := bed.Kill(2); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, 60*time.Second, "node3 unreachable with a leader left", func() (bool, string) {
		leaders, reach, err := managers(ctx, c)
		return err == nil && leaders == 1 && reach["node3"] == swarm.ReachabilityUnreachable, fmt.Sprint(leaders, reach, err)
	})
	t.Logf("timing: node3 marked unreachable %s after its engine was killed", took.Round(time.Millisecond))

	// Two managers down (the second one stopped cleanly): the control plane refuses with the no-leader error,
	// while the replicas keep serving.
	if err := bed.Stop(1); err != nil {
		t.Fatal(err)
	}
	var lostErr error
	took = eventually(t, 90*time.Second, "the swarm reports it has no leader", func() (bool, string) {
		_, _, lostErr = managers(ctx, c)
		return lostErr != nil && strings.Contains(lostErr.Error(), "does not have a leader"), fmt.Sprint(lostErr)
	})
	t.Logf("timing: quorum loss reported %s after the second kill: %v", took.Round(time.Millisecond), lostErr)
	if body, err := get(fmt.Sprintf("%s:%d", bed.Nodes[0].Addr, port)); err != nil || !strings.HasPrefix(body, "hostname=") {
		t.Errorf("node1's replica stopped serving after quorum loss: %q %v", body, err)
	}

	// Both back: the swarm recovers by itself.
	start := time.Now()
	if err := bed.Start(1, 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 120*time.Second, "leader and 3 reachable managers again", func() (bool, string) {
		leaders, reach, err := managers(ctx, c)
		return err == nil && leaders == 1 && fmt.Sprint(reach) == fmt.Sprint(want), fmt.Sprint(leaders, reach, err)
	})
	t.Logf("timing: swarm recovered %s after restarting both engines", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	if err := bed.Teardown(); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	t.Logf("timing: teardown in %s", time.Since(start).Round(time.Millisecond))
	assertNothingLeft(t)
}

// assertNothingLeft checks that no trace of a test bed remains on the host.
func assertNothingLeft(t *testing.T) {
	t.Helper()
	var left []string
	for _, pattern := range []string{"/var/run/netns/dh*", "/run/dh*.sock", "/sys/class/net/br-dh", "/sys/class/net/vdh*",
		"/sys/fs/cgroup/*/dh[0-9]", "/sys/fs/cgroup/dh[0-9]", stateRoot, execRoot} {
		m, _ := filepath.Glob(pattern)
		left = append(left, m...)
	}
	if exec.Command("iptables", append([]string{"-C"}, forwardRule...)...).Run() == nil {
		left = append(left, "iptables "+strings.Join(forwardRule, " "))
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, stateRoot) || strings.Contains(line, execRoot+"/") {
				left = append(left, "mount: "+line)
			}
		}
	}
	if len(left) > 0 {
		t.Errorf("teardown left behind:\n%s", strings.Join(left, "\n"))
	}
}

func TestWorkerLoadImagesEnvTLSAndSSH(t *testing.T) {
	host := testenv.Engine(t)
	tag := testenv.BuildImage(t, host, "deckhand-testbed-load:"+testenv.UniqueName(t))
	bed := New(t, Options{Managers: 1, Workers: 1, TLS: true, SSH: true})
	ctx := context.Background()

	nodes, err := bed.Client(0).NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, n := range nodes.Items {
		roles[n.Description.Hostname+"@"+n.Status.Addr] = string(n.Spec.Role)
	}
	if want := "map[node1@10.99.0.11:manager node2@10.99.0.12:worker]"; fmt.Sprint(roles) != want {
		t.Errorf("nodes = %v, want %s", roles, want)
	}

	if err := bed.LoadImages(ctx, host, tag); err != nil {
		t.Fatal(err)
	}
	for i, c := range bed.Clients() {
		if _, err := c.ImageInspect(ctx, tag); err != nil {
			t.Errorf("node %d lacks the loaded image %s: %v", i, tag, err)
		}
	}

	docker := dockerCLI(t)
	if out, err := dockerWith(bed.Env(1), docker, "info", "--format", "{{.Name}} {{.Swarm.NodeAddr}}"); err != nil || out != "node2 10.99.0.12" {
		t.Errorf("docker info with bed.Env(1) = %q, %v; want node2 10.99.0.12", out, err)
	}
	checkTLS(t, bed, 1, docker)
	checkSSH(t, bed, 1, docker)
}

// dockerCLI is Debian's docker CLI (the engine's own), else the one on PATH.
func dockerCLI(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	p, err := exec.LookPath("docker")
	if err != nil {
		testenv.Unavailable(t, "no docker client: %v", err)
	}
	return p
}

// dockerWith runs the docker CLI with env and a fresh DOCKER_CONFIG and
// returns its trimmed combined output.
func dockerWith(env []string, docker string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := os.MkdirTemp("", "deckhand-docker-config-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(cfg)
	cmd := exec.CommandContext(ctx, docker, args...)
	cmd.Env = append(env, "DOCKER_CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// checkTLS proves node i's engine answers on its TLS listener to the bed's
// client certificate, by flags and by environment, and refuses a client
// without a certificate and one with a certificate of another CA.
func checkTLS(t *testing.T, bed *Bed, i int, docker string) {
	t.Helper()
	n, f := bed.Nodes[i], bed.TLS()
	if want := "tcp://" + n.Addr + ":2376"; n.TLSHost != want {
		t.Errorf("TLSHost = %q, want %q", n.TLSHost, want)
	}
	plain := envWithoutTarget()
	out, err := dockerWith(plain, docker, "--tlsverify", "--tlscacert", f.CA, "--tlscert", f.Cert, "--tlskey", f.Key,
		"-H", n.TLSHost, "info", "--format", "{{.Name}}")
	if err != nil || out != n.Name {
		t.Errorf("docker --tlsverify ... -H %s info = %q, %v; want %s", n.TLSHost, out, err, n.Name)
	}
	if out, err := dockerWith(bed.TLSEnv(i), docker, "info", "--format", "{{.Name}}"); err != nil || out != n.Name {
		t.Errorf("docker info with bed.TLSEnv(%d) = %q, %v; want %s", i, out, err, n.Name)
	}
	for _, c := range []struct {
		what string
		args []string
	}{
		{"no client certificate", []string{"--tlsverify", "--tlscacert", f.CA}},
		{"a certificate of another CA", []string{"--tlsverify", "--tlscacert", bed.UntrustedTLS().CA,
			"--tlscert", bed.UntrustedTLS().Cert, "--tlskey", bed.UntrustedTLS().Key}},
	} {
		// docker ps, not info: info --format hides the connection error.
		out, err := dockerWith(plain, docker, append(c.args, "-H", n.TLSHost, "ps")...)
		if err == nil || !strings.Contains(out, "tls:") {
			t.Errorf("docker -H %s info with %s = %q, %v; want a TLS refusal", n.TLSHost, c.what, out, err)
		} else {
			t.Logf("with %s: %s", c.what, out)
		}
	}
}

// checkSSH proves node i's engine answers through the node's sshd and the
// bed's ssh shim.
func checkSSH(t *testing.T, bed *Bed, i int, docker string) {
	t.Helper()
	n := bed.Nodes[i]
	if want := "ssh://root@" + n.Addr; n.SSHHost != want {
		t.Errorf("SSHHost = %q, want %q", n.SSHHost, want)
	}
	before := bed.SSH().Invocations()
	out, err := dockerWith(bed.SSHEnv(i), docker, "info", "--format", "{{.Name}} {{.Swarm.NodeAddr}}")
	if want := n.Name + " " + n.Addr; err != nil || out != want {
		t.Errorf("docker -H %s info = %q, %v; want %s", n.SSHHost, out, err, want)
	}
	if bed.SSH().Invocations() == before {
		t.Errorf("docker -H %s ran no ssh through the bed's shim", n.SSHHost)
	}
}

func TestCurrentEngine(t *testing.T) {
	host := testenv.Engine(t)
	reg := testenv.Registry(t)
	tag := testenv.BuildImage(t, host, reg.Addr+"/"+testenv.UniqueName(t)+":current")
	ref := testenv.PushImage(t, host, tag)
	bed := New(t, Options{Managers: 1, Engine: EngineCurrent, Registry: true, TLS: true, SSH: true})
	t.Logf("timing: one manager on the current engine up in %s", bed.Took.Round(time.Millisecond))
	ctx := context.Background()
	c := bed.Client(0)

	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("engine %s, API %s (minimum %s)", v.Version, v.APIVersion, v.MinAPIVersion)
	if !apiAtLeast(v.APIVersion, 1, 50) {
		t.Errorf("API version %s, want at least 1.50 from the current engine", v.APIVersion)
	}
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sw := info.Info.Swarm; sw.LocalNodeState != swarm.LocalNodeStateActive || !sw.ControlAvailable {
		t.Errorf("swarm state %q, manager %v; want an active manager", sw.LocalNodeState, sw.ControlAvailable)
	}
	if info.Info.DefaultRuntime != "newrunc" {
		t.Errorf("default runtime %q, want newrunc (the runc built beside the engine)", info.Info.DefaultRuntime)
	}

	// docker save | load works into its image store ...
	if err := bed.LoadImages(ctx, host, tag); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImageInspect(ctx, tag); err != nil {
		t.Errorf("the current engine lacks the loaded image %s: %v", tag, err)
	}
	// ... and a service pulls through the relayed registry with auth and
	// answers on its host-mode port.
	replicas := uint64(1)
	const port = 18081
	if _, err := c.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: "web"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: bed.ImageRef(ref), Env: []string{"VERSION=current"}}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{
			Protocol: network.TCP, TargetPort: 8080, PublishedPort: port, PublishMode: swarm.PortConfigPublishModeHost,
		}}},
	}, EncodedRegistryAuth: bed.Registry().EncodedAuth()}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	addr := fmt.Sprintf("%s:%d", bed.Nodes[0].Addr, port)
	took := eventually(t, 120*time.Second, "the service answers on "+addr, func() (bool, string) {
		body, err := get(addr)
		return err == nil && strings.HasSuffix(body, " version=current\n"), fmt.Sprintf("%q %v", body, err)
	})
	t.Logf("timing: service with a host-mode port answering in %s", took.Round(time.Millisecond))

	docker := dockerCLI(t)
	checkTLS(t, bed, 0, docker)
	checkSSH(t, bed, 0, docker)

	if err := bed.Teardown(); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	assertNothingLeft(t)
	if n := bed.Nodes[0]; n.SSH.Running() {
		t.Errorf("the sshd of %s still runs after Teardown", n.Name)
	}
}

// apiAtLeast reports whether the API version v ("1.56") is at least major.minor.
func apiAtLeast(v string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(v, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
