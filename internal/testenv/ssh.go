package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Paths of Debian's OpenSSH client programs; hack/testenv.sh up installs
// them (SSHD finds the server).
const (
	sshPath    = "/usr/bin/ssh"
	keygenPath = "/usr/bin/ssh-keygen"
)

// SSHUser is the account the test sshd lets in (with the test's key only).
const SSHUser = "root"

// SSHClient is the ssh client side of a test, kept away from ~/.ssh (OpenSSH
// ignores $HOME): a key made by the test, a known_hosts file holding the host
// keys of the servers it trusts, an ssh_config using both, and a shim
// directory whose `ssh` runs the real ssh with that config and logs each run.
// The docker CLI and deckhand run `ssh` from PATH, so putting ShimDir first on
// PATH is all a test needs.
type SSHClient struct {
	ShimDir    string // holds the `ssh` shim; put it first on PATH (UsePATH, PathEnv)
	Config     string // the ssh_config the shim passes with -F
	Key        string // the client's private key (ed25519, no passphrase)
	KnownHosts string // UserKnownHostsFile: host keys of the trusted servers
	Log        string // one line per ssh run through the shim (its arguments)

	dir string
	pub string // the client's public key file
}

// SSHServer is a private Debian sshd started by a test: its own config, host
// key, authorized_keys and pid file, letting root in with the client's key
// only, its sessions reaching an engine through SetEnv DOCKER_HOST. It embeds
// the SSHClient that trusts it.
type SSHServer struct {
	*SSHClient
	Host       string // the engine address for DOCKER_HOST or -H: ssh://root@127.0.0.1:PORT (no port when 22)
	Addr       string // host:port sshd listens on
	DockerHost string // the far side's DOCKER_HOST (SetEnv), empty with SSHWithoutDocker
	SSHDConfig string // the sshd_config it runs with
	HostKey    string // the server's private host key

	sshd *Daemon
}

// SSHOption changes the server SSH or Serve starts.
type SSHOption func(*sshOptions)

type sshOptions struct {
	listen         string
	netns          string
	dockerHost     string
	noDocker       bool
	refuseKey      bool
	unknownHostKey bool
}

// SSHDockerHost points the far side's `docker system dial-stdio` at host
// (SetEnv DOCKER_HOST=host); the default is the test engine's socket.
func SSHDockerHost(host string) SSHOption { return func(o *sshOptions) { o.dockerHost = host } }

// SSHWithoutDocker gives the far side's sessions a PATH without docker, as on
// a host where docker is not installed.
func SSHWithoutDocker() SSHOption { return func(o *sshOptions) { o.noDocker = true } }

// SSHRefuseKey makes the server refuse the client's key (authentication refused).
func SSHRefuseKey() SSHOption { return func(o *sshOptions) { o.refuseKey = true } }

// SSHUnknownHostKey keeps the server's host key out of the client's
// known_hosts, so ssh refuses the host (unknown host key).
func SSHUnknownHostKey() SSHOption { return func(o *sshOptions) { o.unknownHostKey = true } }

// SSHListen makes sshd listen on addr (host:port) instead of a free loopback port.
func SSHListen(addr string) SSHOption { return func(o *sshOptions) { o.listen = addr } }

// SSHNetns runs sshd inside the network namespace bound at path (nsenter --net).
func SSHNetns(path string) SSHOption { return func(o *sshOptions) { o.netns = path } }

// SSH starts a private sshd on a free 127.0.0.1 port with a client that
// trusts it (see SSHClient and SSHServer) and stops both when t ends.
func SSH(t testing.TB, opts ...SSHOption) *SSHServer {
	t.Helper()
	return NewSSHClient(t).Serve(t, opts...)
}

// needSSH ends the test unless Debian's OpenSSH server and client are installed.
func needSSH(t testing.TB) {
	t.Helper()
	UnitOnly(t)
	SSHD(t)
	for _, p := range []string{sshPath, keygenPath} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			Unavailable(t, "%s is not installed (openssh-server, openssh-client); %s", p, hint)
		}
	}
}

// NewSSHClient makes a client key, an empty known_hosts, an ssh_config and
// the ssh shim in a directory of the test.
func NewSSHClient(t testing.TB) *SSHClient {
	t.Helper()
	needSSH(t)
	dir := t.TempDir()
	c := &SSHClient{
		dir:        dir,
		ShimDir:    filepath.Join(dir, "bin"),
		Config:     filepath.Join(dir, "ssh_config"),
		Key:        filepath.Join(dir, "id_ed25519"),
		pub:        filepath.Join(dir, "id_ed25519.pub"),
		KnownHosts: filepath.Join(dir, "known_hosts"),
		Log:        filepath.Join(dir, "ssh.log"),
	}
	if err := keygen(c.Key, "deckhand-test-client"); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	config := fmt.Sprintf(`# ssh client config of a deckhand test; the shim passes it with -F.
Host *
	User %s
	IdentityFile %s
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile %s
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	UpdateHostKeys no
	BatchMode yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	ConnectTimeout 10
`, SSHUser, c.Key, c.KnownHosts)
	shim := fmt.Sprintf(`#!/bin/sh
# ssh shim of a deckhand test: the real ssh with the test's config; one log line per run.
printf '%%s\n' "$*" >>%s
exec %s -F %s "$@"
`, shellQuote(c.Log), sshPath, shellQuote(c.Config))
	for _, f := range []struct {
		path, body string
		mode       os.FileMode
	}{
		{c.Config, config, 0o600},
		{c.KnownHosts, "", 0o600},
		{c.Log, "", 0o600},
		{filepath.Join(c.ShimDir, "ssh"), shim, 0o755},
	} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if err := os.WriteFile(f.path, []byte(f.body), f.mode); err != nil {
			t.Fatalf("testenv: write %s: %v", f.path, err)
		}
	}
	return c
}

// Invocations is how many ssh processes ran through the shim so far.
func (c *SSHClient) Invocations() int {
	b, err := os.ReadFile(c.Log)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// Calls are the argument lists of the ssh runs so far, one per invocation.
func (c *SSHClient) Calls() []string {
	b, _ := os.ReadFile(c.Log)
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// UsePATH puts ShimDir first on PATH for the rest of the test (t.Setenv, so
// not in parallel tests; use PathEnv there).
func (c *SSHClient) UsePATH(t testing.TB) {
	t.Helper()
	t.Setenv("PATH", c.ShimDir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// PathEnv returns env (os.Environ() when nil) with ShimDir first on PATH,
// for an exec.Cmd's Env.
func (c *SSHClient) PathEnv(env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	out := make([]string, 0, len(env)+1)
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
			continue
		}
		out = append(out, kv)
	}
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return append(out, "PATH="+c.ShimDir+string(os.PathListSeparator)+path)
}

// Serve starts another private sshd whose host key this client trusts and
// which lets this client's key in (unless opts say otherwise), and stops it
// when t ends.
func (c *SSHClient) Serve(t testing.TB, opts ...SSHOption) *SSHServer {
	t.Helper()
	needSSH(t)
	var o sshOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.listen == "" {
		o.listen = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	if o.dockerHost == "" && !o.noDocker {
		o.dockerHost = defaultDockerHost()
	}
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		t.Fatalf("testenv: ssh listen address %q: %v", o.listen, err)
	}
	dir, err := os.MkdirTemp(c.dir, "sshd-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	s := &SSHServer{
		SSHClient:  c,
		Addr:       o.listen,
		DockerHost: o.dockerHost,
		SSHDConfig: filepath.Join(dir, "sshd_config"),
		HostKey:    filepath.Join(dir, "ssh_host_ed25519_key"),
	}
	s.Host = "ssh://" + SSHUser + "@" + o.listen
	if port == "22" {
		s.Host = "ssh://" + SSHUser + "@" + host
	}
	if err := keygen(s.HostKey, "deckhand-test-host"); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	authorized := c.pub
	if o.refuseKey {
		// A key the client does not have: the server refuses the client's.
		authorized = filepath.Join(dir, "other_ed25519.pub")
		if err := keygen(strings.TrimSuffix(authorized, ".pub"), "deckhand-test-other"); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	pub, err := os.ReadFile(authorized)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authKeys, pub, 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// SetEnv: sshd keeps only its first SetEnv line, so all go on one. The
	// far side gets a clean HOME of the test's: the account's own dotfiles
	// (bash reads ~/.bashrc for sshd's commands) must not change or slow what
	// the sessions run.
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	setenv := []string{"HOME=" + home}
	if o.dockerHost != "" {
		setenv = append(setenv, "DOCKER_HOST="+o.dockerHost)
	}
	if o.noDocker {
		empty := filepath.Join(dir, "empty-path")
		if err := os.Mkdir(empty, 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		setenv = append(setenv, "PATH="+empty)
	}
	config := fmt.Sprintf(`# sshd config of a deckhand test (sshd -D -e -f this file).
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
PrintMotd no
PermitUserEnvironment no
`, o.listen, s.HostKey, filepath.Join(dir, "sshd.pid"), authKeys)
	if len(setenv) > 0 {
		config += "SetEnv " + strings.Join(setenv, " ") + "\n"
	}
	if err := os.WriteFile(s.SSHDConfig, []byte(config), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if !o.unknownHostKey {
		hostPub, err := os.ReadFile(s.HostKey + ".pub")
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		pattern := "[" + host + "]:" + port
		if port == "22" {
			pattern = host
		}
		f, err := os.OpenFile(c.KnownHosts, os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		_, err = fmt.Fprintf(f, "%s %s\n", pattern, strings.Join(strings.Fields(string(hostPub))[:2], " "))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("testenv: write %s: %v", c.KnownHosts, err)
		}
	}
	// sshd insists on its privilege separation directory (Debian's init makes it).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// sshd re-executes itself for each connection: it needs its absolute path.
	argv := []string{SSHD(t), "-D", "-e", "-f", s.SSHDConfig}
	if o.netns != "" {
		// nsenter, not "ip netns exec" (which remounts /sys); it execs sshd.
		argv = append([]string{"nsenter", "--net=" + o.netns}, argv...)
	}
	s.sshd = &Daemon{
		Name: "sshd on " + s.Addr, Argv: argv, Log: filepath.Join(dir, "sshd.log"), Timeout: 10 * time.Second,
		Ready: func() error {
			if !greets(s.Addr) {
				return fmt.Errorf("no SSH banner on %s", s.Addr)
			}
			return nil
		},
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("testenv: stop sshd on %s: %v", s.Addr, err)
		}
		if t.Failed() {
			t.Logf("sshd on %s, last lines of its log:\n%s", s.Addr, s.sshd.LogTail(30))
		}
	})
	if err := s.Start(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return s
}

// defaultDockerHost is the test engine's address: env.json's docker_host, else
// the default socket.
func defaultDockerHost() string {
	if h := readEnvQuiet().DockerHost; strings.HasPrefix(h, "unix://") {
		return h
	}
	return "unix:///var/run/docker.sock"
}

// keygen makes an ed25519 key pair at path and path.pub.
func keygen(path, comment string) error {
	out, err := exec.Command(keygenPath, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen %s: %w: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}

// Start starts sshd (again) on the same address and waits until it greets.
func (s *SSHServer) Start() error { return s.sshd.Start() }

// greets reports whether an SSH server answers on addr with its banner.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

// Running reports whether sshd's listener runs.
func (s *SSHServer) Running() bool { return s.sshd.Running() }

// KillSessions kills every live ssh session of this server (the per-connection
// sshd processes and what they run, such as docker system dial-stdio) with
// SIGKILL and returns how many processes it killed; the listener keeps
// accepting new connections. Killing the listener alone would leave them.
func (s *SSHServer) KillSessions() int {
	killed := 0
	// Repeat: a session may fork while we kill.
	for range 5 {
		pid := s.sshd.Pid()
		if pid == 0 {
			break
		}
		pids := descendants(pid)
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if syscall.Kill(p, syscall.SIGKILL) == nil {
				killed++
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return killed
}

// Stop drops every connection: it kills the live sessions and the listener,
// so the port refuses connections until Start. Stopping twice is fine.
func (s *SSHServer) Stop() error {
	// Stopped, the listener accepts no new session while the live ones are
	// killed (a session accepted in between would outlive it); SIGKILL ends
	// it even while it is stopped.
	if pid := s.sshd.Pid(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	s.KillSessions()
	return s.sshd.Signal(syscall.SIGKILL, 10*time.Second)
}

// descendants lists the processes below pid (children first found first).
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may contain spaces and parentheses: fields follow the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
