package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// dockerClients are the docker CLIs on this machine: Debian's (20.10, the
// engine's own) and a newer one in /usr/local/bin when there is one.
func dockerClients(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, p := range []string{"/usr/bin/docker", "/usr/local/bin/docker"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			found = append(found, p)
		}
	}
	if len(found) == 0 {
		Unavailable(t, "no docker CLI in /usr/bin or /usr/local/bin; %s", hint)
	}
	return found
}

// dockerVia runs the docker CLI with -H host and the shim of s first on PATH,
// with a fresh DOCKER_CONFIG and no inherited target, and returns its
// combined output.
func dockerVia(t *testing.T, s *SSHServer, docker string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker, append([]string{"-H", s.Host}, args...)...)
	cmd.Env = append(s.PathEnv(cleanDockerEnv()), "DOCKER_CONFIG="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// cleanDockerEnv is the process environment without the variables that
// choose a docker target.
func cleanDockerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG":
		default:
			env = append(env, kv)
		}
	}
	return env
}

func TestSSHReachesTheEngineThroughTheShim(t *testing.T) {
	c := Engine(t)
	home, _ := os.UserHomeDir()
	_, errBefore := os.Stat(filepath.Join(home, ".ssh"))
	v, err := c.ServerVersion(context.Background(), client.ServerVersionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := SSH(t)

	// The far side: a root session with docker on sshd's default PATH and
	// DOCKER_HOST from SetEnv.
	// exec.Command looks a bare name up on this process's PATH, not cmd.Env's.
	cmd := exec.Command(filepath.Join(s.ShimDir, "ssh"), "-p", s.Addr[strings.LastIndexByte(s.Addr, ':')+1:], "127.0.0.1",
		`echo "PATH=$PATH"; echo "DOCKER_HOST=$DOCKER_HOST"; command -v docker; id -un`)
	cmd.Env = s.PathEnv(cleanDockerEnv())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ssh through the shim: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 {
		t.Fatalf("far side said %q; want PATH, DOCKER_HOST, docker's path and the user", out)
	}
	path := strings.Split(strings.TrimPrefix(lines[0], "PATH="), ":")
	for _, dir := range []string{"/usr/local/bin", "/usr/bin"} {
		if !containsString(path, dir) {
			t.Errorf("far side PATH = %v, want it to hold %s", path, dir)
		}
	}
	if lines[1] != "DOCKER_HOST="+s.DockerHost || s.DockerHost == "" {
		t.Errorf("far side %s, want DOCKER_HOST=%s", lines[1], s.DockerHost)
	}
	if !strings.HasSuffix(lines[2], "/docker") || lines[3] != SSHUser {
		t.Errorf("far side docker %q as %q; want a docker on PATH, as %s", lines[2], lines[3], SSHUser)
	}
	if n := s.Invocations(); n != 1 {
		t.Errorf("Invocations after one ssh = %d, want 1 (calls %q)", n, s.Calls())
	}

	// docker -H ssh://... reaches the test engine through docker system dial-stdio.
	for _, docker := range dockerClients(t) {
		before := s.Invocations()
		out, err := dockerVia(t, s, docker, "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
		if err != nil {
			t.Errorf("%s -H %s version: %v\n%s", docker, s.Host, err, out)
			continue
		}
		if out != v.APIVersion+" "+v.Os {
			t.Errorf("%s -H %s version = %q, want the test engine's %q", docker, s.Host, out, v.APIVersion+" "+v.Os)
		}
		calls := s.Calls()[before:]
		if len(calls) == 0 || !strings.Contains(calls[len(calls)-1], "docker system dial-stdio") {
			t.Errorf("%s made ssh calls %q; want docker system dial-stdio through the shim", docker, calls)
		}
		t.Logf("%s -H %s version: %s (%d ssh runs)", docker, s.Host, out, len(calls))
	}

	// The client side never touched ~/.ssh.
	if _, err := os.Stat(filepath.Join(home, ".ssh")); os.IsNotExist(errBefore) && !os.IsNotExist(err) {
		t.Errorf("%s/.ssh appeared: the ssh client side must not use it", home)
	}
}

func TestSSHFaults(t *testing.T) {
	Engine(t)
	docker := dockerClients(t)[0]
	for _, tc := range []struct {
		name string
		opt  SSHOption
		want string
	}{
		{"unknown host key", SSHUnknownHostKey(), "Host key verification failed"},
		{"key refused", SSHRefuseKey(), "Permission denied (publickey)"},
		{"no docker on the far side", SSHWithoutDocker(), "docker: command not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := SSH(t, tc.opt)
			out, err := dockerVia(t, s, docker, "version", "--format", "{{.Server.APIVersion}}")
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("docker -H %s version = %v\n%s\nwant it to fail with %q", s.Host, err, out, tc.want)
			}
			if s.Invocations() == 0 {
				t.Errorf("no ssh run went through the shim")
			}
		})
	}
}

func TestSSHStopStartAndKillSessions(t *testing.T) {
	Engine(t)
	docker := dockerClients(t)[0]
	s := SSH(t)

	// A long-lived session: docker events over ssh.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	events := exec.CommandContext(ctx, docker, "-H", s.Host, "events")
	events.Env = append(s.PathEnv(cleanDockerEnv()), "DOCKER_CONFIG="+t.TempDir())
	var evOut strings.Builder
	events.Stdout, events.Stderr = &evOut, &evOut
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- events.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !sessionRuns(s, "dial-stdio") {
		if time.Now().After(deadline) {
			t.Fatalf("no docker system dial-stdio session on the far side after 20s; docker events said %q", evOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// KillSessions drops the connection while the listener stays: the ssh
	// client under docker exits (docker may dial again by itself).
	clients := sshClientsOf(events.Process.Pid)
	if len(clients) == 0 {
		t.Fatalf("docker events runs no ssh client")
	}
	if n := s.KillSessions(); n == 0 {
		t.Fatalf("KillSessions killed nothing")
	}
	deadline = time.Now().Add(10 * time.Second)
	for _, pid := range clients {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("the ssh client %d of docker events still runs 10s after KillSessions", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if out, err := dockerVia(t, s, docker, "version", "--format", "{{.Server.APIVersion}}"); err != nil {
		t.Fatalf("after KillSessions the listener must still serve: %v\n%s", err, out)
	}

	// Stop drops everything and closes the port: docker events ends, docker
	// version gets ssh's Connection refused.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() || greets(s.Addr) {
		t.Errorf("sshd still runs or answers on %s after Stop", s.Addr)
	}
	select {
	case err := <-exited:
		lines := strings.Split(strings.TrimSpace(evOut.String()), "\n")
		t.Logf("docker events after Stop: %v: %s", err, lines[len(lines)-1])
	case <-time.After(20 * time.Second):
		t.Errorf("docker events still runs 20s after sshd was stopped")
	}
	out, err := dockerVia(t, s, docker, "version", "--format", "{{.Server.APIVersion}}")
	if err == nil || !strings.Contains(out, "Connection refused") {
		t.Errorf("docker -H %s version with sshd stopped = %v\n%s\nwant ssh's Connection refused", s.Host, err, out)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if out, err := dockerVia(t, s, docker, "version", "--format", "{{.Server.APIVersion}}"); err != nil {
		t.Fatalf("after Start: %v\n%s", err, out)
	}
	t.Logf("%d ssh runs in all: %q", s.Invocations(), s.Calls())
}

// sshClientsOf lists the ssh processes below pid.
func sshClientsOf(pid int) []int {
	var pids []int
	for _, p := range descendants(pid) {
		if strings.HasSuffix(cmdline(p), "docker system dial-stdio") {
			pids = append(pids, p)
		}
	}
	return pids
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || !strings.HasPrefix(string(b[i+1:]), " Z")
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// sessionRuns reports whether a session process of s runs a command line
// containing what.
func sessionRuns(s *SSHServer, what string) bool {
	pid := s.sshd.Pid()
	if pid == 0 {
		return false
	}
	for _, pid := range descendants(pid) {
		if strings.Contains(cmdline(pid), what) {
			return true
		}
	}
	return false
}
