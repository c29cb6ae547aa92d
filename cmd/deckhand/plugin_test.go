package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/internal/testenv"
)

// pluginVersion is stamped into the plugin binary so the test can see it come back.
const pluginVersion = "v0.0.0-plugintest"

// dockerClients lists the distinct docker client binaries on this machine:
// the one first on PATH and Debian's, which may differ (a 28.x client in
// /usr/local/bin, the engine's 20.10 in /usr/bin).
func dockerClients(t *testing.T) []string {
	t.Helper()
	var found []string
	seen := map[string]bool{}
	candidates := []string{"/usr/local/bin/docker", "/usr/bin/docker"}
	if p, err := exec.LookPath("docker"); err == nil {
		candidates = append([]string{p}, candidates...)
	}
	for _, p := range candidates {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		found = append(found, p)
	}
	if len(found) == 0 {
		testenv.Unavailable(t, "no docker client binary (docker on PATH, /usr/bin/docker); run `make testenv` to install docker.io")
	}
	return found
}

// installPlugin builds deckhand into DIR/cli-plugins/docker-deckhand and returns DIR,
// a DOCKER_CONFIG directory in which the docker client finds the plugin.
func installPlugin(t *testing.T) (configDir, plugin string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go toolchain on PATH to build deckhand: %v", err)
	}
	configDir = t.TempDir()
	plugin = filepath.Join(configDir, "cli-plugins", "docker-deckhand")
	cmd := exec.Command(goBin, "build", "-o", plugin,
		"-ldflags", "-X github.com/deckhand/deckhand/internal/version.Version="+pluginVersion, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build deckhand: %v\n%s", err, out)
	}
	return configDir, plugin
}

// runDocker runs the docker client with the plugin's DOCKER_CONFIG and an
// engine address that does not exist: nothing here may need the engine.
func runDocker(t *testing.T, docker, configDir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(docker, args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+configDir, "DOCKER_HOST=unix:///nonexistent/docker.sock",
		"DOCKER_CONTEXT=", "DOCKER_CLI_HINTS=false")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s %s: %v", docker, strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// checkMetadata checks docker's plugin discovery answer.
func checkMetadata(t *testing.T, plugin string) {
	out, err := exec.Command(plugin, "docker-cli-plugin-metadata").Output()
	if err != nil {
		t.Fatalf("docker-deckhand docker-cli-plugin-metadata: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal(out, &meta); err != nil {
		t.Fatalf("metadata is not JSON: %v\n%s", err, out)
	}
	if meta["SchemaVersion"] != "0.1.0" || meta["Vendor"] == "" || meta["Version"] != pluginVersion || meta["ShortDescription"] == "" {
		t.Errorf("metadata = %v; want SchemaVersion 0.1.0, a Vendor, Version %s and a ShortDescription", meta, pluginVersion)
	}
}

// TestDockerCLIPlugin runs deckhand through every real docker client on the
// machine, the way users run "docker deckhand ...".
func TestDockerCLIPlugin(t *testing.T) {
	configDir, plugin := installPlugin(t)
	t.Run("metadata", func(t *testing.T) { checkMetadata(t, plugin) })
	clients := dockerClients(t)
	if out, errOut, code := runDocker(t, clients[0], configDir, "context", "create", "dead", "--docker", "host=unix:///nonexistent/dead-context.sock"); code != 0 {
		t.Fatalf("docker context create: exit %d\n%s%s", code, out, errOut)
	}
	for _, docker := range clients {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(docker, "/"), "/", "_"), func(t *testing.T) {
			out, errOut, code := runDocker(t, docker, configDir, "--help")
			if code != 0 || !strings.Contains(out+errOut, "deckhand*") {
				t.Errorf("docker --help (exit %d) does not list the deckhand plugin:\n%s%s", code, out, errOut)
			}

			out, errOut, code = runDocker(t, docker, configDir, "deckhand", "version")
			if code != 0 || !strings.HasPrefix(out, "deckhand "+pluginVersion+" ") {
				t.Errorf("docker deckhand version = exit %d, %q (stderr %q); want deckhand %s ...", code, out, errOut, pluginVersion)
			}

			out, errOut, code = runDocker(t, docker, configDir, "deckhand", "--help")
			for _, want := range []string{"docker deckhand [command]", `Use "docker deckhand [command] --help"`, "deploy", "render"} {
				if code != 0 || !strings.Contains(out, want) {
					t.Errorf("docker deckhand --help (exit %d) lacks %q:\n%s%s", code, want, out, errOut)
				}
			}

			out, _, code = runDocker(t, docker, configDir, "deckhand", "render", "--help")
			if code != 0 || !strings.Contains(out, "docker deckhand render") {
				t.Errorf("docker deckhand render --help (exit %d) does not show the plugin's usage line:\n%s", code, out)
			}

			// docker's global flags choose the engine for the plugin as for docker itself.
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"--context", "dead", "deckhand", "quorum"}, "context dead (unix:///nonexistent/dead-context.sock)"},
				{[]string{"-c", "dead", "deckhand", "quorum"}, "context dead (unix:///nonexistent/dead-context.sock)"},
				{[]string{"-H", "unix:///nonexistent/host-flag.sock", "deckhand", "quorum"}, "context default (unix:///nonexistent/host-flag.sock)"},
			} {
				_, errOut, code = runDocker(t, docker, configDir, tc.args...)
				if code != 1 || !strings.Contains(errOut, "cannot reach the docker engine at "+tc.want) {
					t.Errorf("docker %s = exit %d, stderr %q; want exit 1 naming %s", strings.Join(tc.args, " "), code, errOut, tc.want)
				}
			}

			_, errOut, code = runDocker(t, docker, configDir, "deckhand", "no-such-command")
			if code != 1 || !strings.Contains(errOut, `unknown command "no-such-command" for "docker deckhand"`) {
				t.Errorf("docker deckhand no-such-command = exit %d, stderr %q; want exit 1 naming the command", code, errOut)
			}
		})
	}
}
