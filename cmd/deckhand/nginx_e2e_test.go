package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deckhand/deckhand/internal/testenv"
)

// TestNginxCommandsE2E deploys a stack whose service carries deckhand.http.*
// deploy labels and a host-mode port with `deckhand deploy`, then runs
// `deckhand nginx render` (text and JSON) and `deckhand nginx apply` on it.
func TestNginxCommandsE2E(t *testing.T) {
	c := testenv.Engine(t)
	reg := testenv.Registry(t)
	t.Setenv("DOCKER_CONFIG", testenv.DockerConfig(t))
	name := testenv.UniqueName(t)
	image := reg.Addr + "/deckhand-nginx-" + name + ":v1"
	testenv.BuildImage(t, c, image)
	testenv.PushImage(t, c, image)
	t.Cleanup(func() { removeServices(t, c, name) })

	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	compose := `services:
  web:
    image: ${IMAGE}
    ports:
      - target: 8080
        mode: host
    deploy:
      replicas: 2
      labels:
        deckhand.http.host: ` + name + `.example.test
        deckhand.http.path: /app/
`
	if err := os.WriteFile(file, []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IMAGE", image)
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := newCLI(strings.NewReader(""), &out, &errw).run(append([]string{"deckhand"}, args...))
		return code, out.String(), errw.String()
	}
	if code, out, errw := run("deploy", "--with-registry-auth", "--timeout", "3m", "-c", file, name); code != 0 {
		t.Fatalf("deploy: exit %d\n%s%s", code, out, errw)
	}

	// Deploy waits for convergence, but task port status can trail it: retry briefly.
	var out string
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, o, errw := run("nginx", "render", "--http-port", "8088", name)
		if code != 0 {
			t.Fatalf("nginx render: exit %d\n%s%s", code, o, errw)
		}
		out = o
		if strings.Count(out, "server 127.0.0.1:") == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, want := range []string{"upstream " + name + "_web {", "server_name " + name + ".example.test;", "location /app/ {",
		"proxy_pass http://" + name + "_web;", "listen 8088;", "proxy_set_header X-Client-IP $remote_addr;"} {
		if !strings.Contains(out, want) {
			t.Errorf("nginx render output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "server 127.0.0.1:"); n != 2 {
		t.Errorf("want 2 servers (2 replicas, host mode), got %d:\n%s", n, out)
	}

	code, js, errw := run("nginx", "render", "--format", "json", name)
	var m struct {
		Services []struct {
			Stack, Name string
			Upstreams   []struct{ Servers []struct{ Addr string } }
			Routes      []struct{ Host, Path, Upstream string }
		}
	}
	if code != 0 || json.Unmarshal([]byte(js), &m) != nil || len(m.Services) != 1 || m.Services[0].Stack != name ||
		len(m.Services[0].Routes) != 1 || m.Services[0].Routes[0].Path != "/app/" {
		t.Fatalf("nginx render --format json: exit %d\n%s%s", code, js, errw)
	}

	conf := filepath.Join(dir, "deckhand.conf")
	marker := filepath.Join(dir, "reloaded")
	args := []string{"nginx", "apply", "--out", conf, "--test-command", "grep -q 'upstream " + name + "_web' " + conf,
		"--reload-command", "touch " + marker, name}
	if code, out, errw := run(args...); code != 0 || !strings.Contains(out, "written, tested and nginx reloaded") {
		t.Fatalf("nginx apply: exit %d\n%s%s", code, out, errw)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the reload command did not run: %v", err)
	}
	if code, out, _ := run(args...); code != 0 || !strings.Contains(out, "is up to date") {
		t.Fatalf("second apply must find nothing to do: exit %d\n%s", code, out)
	}
	bad := []string{"nginx", "apply", "--out", conf, "--test-command", "false", "--http-port", "9099", name}
	before, _ := os.ReadFile(conf)
	if code, _, errw := run(bad...); code != 1 || !strings.Contains(errw, "previous config was restored") {
		t.Fatalf("a failing test command must fail the apply and say so: exit %d\n%s", code, errw)
	}
	if after, _ := os.ReadFile(conf); !bytes.Equal(before, after) {
		t.Fatal("the config that failed its test was left in place")
	}
}
