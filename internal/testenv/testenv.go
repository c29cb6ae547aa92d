// Package testenv gives end-to-end tests the real components they run
// against: the Docker engine (a single-node swarm manager), the authenticated
// registry on 127.0.0.1:5000, nginx, a tiny HTTP test image built FROM
// scratch, private sshd servers reaching an engine over ssh (SSH), and the
// current engine's binaries (CurrentEngine). hack/testenv.sh up (make
// testenv) provides them and records the facts in env.json; every accessor
// fails the test when CI=true and its component is missing, and skips it
// otherwise.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// DefaultDir is where hack/testenv.sh keeps its state and env.json;
// DECKHAND_TESTENV_DIR overrides it.
const DefaultDir = "/var/lib/deckhand-testenv"

// hint tells a developer how to get the missing component.
const hint = "run `make testenv` (hack/testenv.sh up) as root first"

// RegistryInfo is where the test registry listens and how to log in to it.
type RegistryInfo struct {
	Addr     string `json:"addr"`     // host:port, e.g. 127.0.0.1:5000
	User     string `json:"user"`     // htpasswd user
	Password string `json:"password"` // that user's password
}

// EncodedAuth is the X-Registry-Auth value (base64url JSON) for this registry,
// as ImagePush/ImagePull/ServiceCreate options want it.
func (r RegistryInfo) EncodedAuth() string {
	b, _ := json.Marshal(registry.AuthConfig{Username: r.User, Password: r.Password, ServerAddress: r.Addr})
	return base64.URLEncoding.EncodeToString(b)
}

// envFile is the JSON hack/testenv.sh writes. Fields are only ever added:
// a file written by an older hack/testenv.sh still parses.
type envFile struct {
	DockerHost    string        `json:"docker_host"`
	Nginx         string        `json:"nginx"`
	Registry      RegistryInfo  `json:"registry"`
	SSHD          string        `json:"sshd"`           // Debian's sshd, e.g. /usr/sbin/sshd
	OpenSSL       string        `json:"openssl"`        // the openssl CLI, e.g. /usr/bin/openssl
	CurrentEngine *CurrentBuild `json:"current_engine"` // nil when written by an older hack/testenv.sh
}

// Dir is the state directory of hack/testenv.sh.
func Dir() string {
	if d := os.Getenv("DECKHAND_TESTENV_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// InCI reports whether the tests run in CI (CI=true), where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable ends a test whose component cannot be had: t.Fatalf in CI, t.Skipf otherwise.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("test environment unavailable (CI=true, so this fails): "+format, args...)
	}
	t.Skipf("test environment unavailable: "+format, args...)
}

// UnitOnly skips t when a developer asked for unit tests only
// (DECKHAND_UNIT_ONLY=1, make unit); never in CI.
func UnitOnly(t testing.TB) {
	t.Helper()
	if os.Getenv("DECKHAND_UNIT_ONLY") == "1" && !InCI() {
		t.Skip("DECKHAND_UNIT_ONLY=1: skipping a test that needs the test environment")
	}
}

func readEnv(t testing.TB) envFile {
	t.Helper()
	path := filepath.Join(Dir(), "env.json")
	b, err := os.ReadFile(path)
	if err != nil {
		Unavailable(t, "read %s: %v; %s", path, err, hint)
	}
	var e envFile
	if err := json.Unmarshal(b, &e); err != nil {
		Unavailable(t, "parse %s: %v; rerun hack/testenv.sh up to rewrite it", path, err)
	}
	return e
}

// Engine connects to the Docker engine (DOCKER_HOST or the default socket),
// checks it is an active swarm manager, and closes the client when t ends.
func Engine(t testing.TB) *client.Client {
	t.Helper()
	UnitOnly(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(client.FromEnv)
	if err != nil {
		Unavailable(t, "configure a docker client from the environment: %v; %s", err, hint)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		Unavailable(t, "cannot reach the docker engine at %s: %v; %s", c.DaemonHost(), err, hint)
	}
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		Unavailable(t, "docker info at %s: %v; %s", c.DaemonHost(), err, hint)
	}
	if sw := info.Info.Swarm; sw.LocalNodeState != swarm.LocalNodeStateActive || !sw.ControlAvailable {
		Unavailable(t, "the engine at %s is not a swarm manager (state %q, manager %v); %s",
			c.DaemonHost(), sw.LocalNodeState, sw.ControlAvailable, hint)
	}
	return c
}

// Registry returns the authenticated test registry after checking that it
// answers with the recorded credentials.
func Registry(t testing.TB) RegistryInfo {
	t.Helper()
	UnitOnly(t)
	r := readEnv(t).Registry
	if r.Addr == "" || r.User == "" || r.Password == "" {
		Unavailable(t, "%s has no registry address or credentials; rerun hack/testenv.sh up", filepath.Join(Dir(), "env.json"))
	}
	code, err := probeRegistry(r.Addr, r.User, r.Password)
	if err != nil {
		Unavailable(t, "registry %s does not answer: %v; %s", r.Addr, err, hint)
	}
	if code != http.StatusOK {
		Unavailable(t, "registry %s answered /v2/ with HTTP %d for user %q; rerun hack/testenv.sh up", r.Addr, code, r.User)
	}
	return r
}

// probeRegistry GETs /v2/ with basic auth and returns the status code.
func probeRegistry(addr, user, password string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(user, password)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// DockerConfig returns a fresh DOCKER_CONFIG directory whose config.json is
// logged in to the test registry; point DOCKER_CONFIG at it (t.Setenv).
func DockerConfig(t testing.TB) string {
	t.Helper()
	return DockerConfigFor(t, Registry(t))
}

// DockerConfigFor is DockerConfig for registry r as some client reaches it
// (a test bed's nodes reach the test registry at another address).
func DockerConfigFor(t testing.TB, r RegistryInfo) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{
		r.Addr: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Password))},
	}}
	b, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		t.Fatalf("encode docker config: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o600); err != nil {
		t.Fatalf("write docker config: %v", err)
	}
	return dir
}

// CurrentBuild is the current engine that hack/testenv.sh up builds from the
// Go module proxy once per machine (env.json's current_engine): its dockerd
// and the runc it needs (Debian's runc 1.1 lacks the time namespace it asks for).
type CurrentBuild struct {
	Dockerd        string `json:"dockerd"`         // path of the built dockerd
	Runc           string `json:"runc"`            // path of the built runc
	DockerdVersion string `json:"dockerd_version"` // `dockerd --version`
	RuncVersion    string `json:"runc_version"`    // first line of `runc --version`
	BuiltFrom      string `json:"built_from"`      // the module@version pins, space-separated
	Error          string `json:"error"`           // why it could not be built; empty when built
}

// CurrentEngine returns the current engine's build after checking that both
// binaries are there; when hack/testenv.sh up could not build it (the Go
// module proxy refused, no toolchain), the test fails in CI naming the
// recorded reason, and skips elsewhere.
func CurrentEngine(t testing.TB) CurrentBuild {
	t.Helper()
	UnitOnly(t)
	e := readEnv(t)
	b := e.CurrentEngine
	if b == nil {
		// env.json from a hack/testenv.sh that predates the current engine:
		// use the cache it builds into, if a newer one filled it.
		dir := filepath.Join(Dir(), "engines", "current")
		from, _ := os.ReadFile(filepath.Join(dir, "built-from"))
		b = &CurrentBuild{Dockerd: filepath.Join(dir, "dockerd"), Runc: filepath.Join(dir, "runc"), BuiltFrom: strings.TrimSpace(string(from))}
	}
	if b.Error != "" {
		Unavailable(t, "the current engine could not be built: %s; fix that and rerun hack/testenv.sh up", b.Error)
	}
	for _, p := range []string{b.Dockerd, b.Runc} {
		if fi, err := os.Stat(p); p == "" || err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			Unavailable(t, "the current engine's binary %q is missing (%v); %s (it builds dockerd and runc once, ~5 minutes)", p, err, hint)
		}
	}
	return *b
}

// OpenSSL returns the path of the openssl CLI the tests make certificates with.
func OpenSSL(t testing.TB) string {
	t.Helper()
	UnitOnly(t)
	return tool(t, readEnvQuiet().OpenSSL, "openssl", "/usr/bin/openssl")
}

// SSHD returns the path of Debian's sshd.
func SSHD(t testing.TB) string {
	t.Helper()
	UnitOnly(t)
	return tool(t, readEnvQuiet().SSHD, "sshd", "/usr/sbin/sshd")
}

// tool returns the first executable of recorded, name on PATH and fallback.
func tool(t testing.TB, recorded, name, fallback string) string {
	t.Helper()
	var candidates []string
	if recorded != "" {
		candidates = append(candidates, recorded)
	}
	if p, err := exec.LookPath(name); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range append(candidates, fallback) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Unavailable(t, "%s is not installed; %s", name, hint)
	return ""
}

// readEnvQuiet is env.json, or its zero value when it cannot be read.
func readEnvQuiet() envFile {
	var e envFile
	if b, err := os.ReadFile(filepath.Join(Dir(), "env.json")); err == nil {
		_ = json.Unmarshal(b, &e)
	}
	return e
}

// Nginx returns the path of the nginx binary.
func Nginx(t testing.TB) string {
	t.Helper()
	UnitOnly(t)
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Unavailable(t, "nginx is not installed (not on PATH nor in /usr/sbin); %s", hint)
	return ""
}

// UniqueName returns a short name, valid for swarm stacks, services and
// networks, that no other test of this run uses ("t" and 8 hex digits).
func UniqueName(t testing.TB) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random name: %v", err)
	}
	name := "t" + hex.EncodeToString(b[:])
	t.Logf("unique name for %s: %s", t.Name(), name)
	return name
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// errNotFound reports whether err is the engine's "no such object".
func errNotFound(err error) bool {
	var nf interface{ NotFound() }
	return errors.As(err, &nf)
}
