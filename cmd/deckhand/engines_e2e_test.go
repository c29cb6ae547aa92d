package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deckhand/deckhand/internal/testbed"
	"github.com/deckhand/deckhand/internal/testenv"
)

// TestCurrentEngineOverTLS runs plan, deploy (with registry auth), rollback,
// live quorum and watch on the current engine (API 1.56), reached over TCP
// with --tlsverify: by flags, by the environment, by a docker context, and
// refused with a certificate the engine does not trust. Debian's Engine
// 20.10 runs the same commands in the other end-to-end tests.
func TestCurrentEngineOverTLS(t *testing.T) {
	hostEngine := testenv.Engine(t)
	hostReg := testenv.Registry(t)
	name := testenv.UniqueName(t)
	hostRef := hostReg.Addr + "/deckhand-current-" + name + ":v1"
	testenv.BuildImage(t, hostEngine, hostRef)
	testenv.PushImage(t, hostEngine, hostRef)
	bed := testbed.New(t, testbed.Options{Managers: 1, Engine: testbed.EngineCurrent, Registry: true, TLS: true})
	node, certs := bed.Nodes[0], bed.TLS()
	cfg := testenv.DockerConfigFor(t, bed.Registry())
	file := filepath.Join(t.TempDir(), "stack.yml")
	stack := "services:\n  web:\n    image: " + bed.ImageRef(hostRef) + "\n    environment:\n      VERSION: ${VERSION}\n    ports:\n      - target: 8080\n        mode: host\n"
	if err := os.WriteFile(file, []byte(stack), 0o644); err != nil {
		t.Fatal(err)
	}
	where := "context default (" + node.TLSHost + ")"
	tlsFlags := []string{"-H", node.TLSHost, "--tlsverify", "--tlscacert", certs.CA, "--tlscert", certs.Cert, "--tlskey", certs.Key}
	t.Setenv("DOCKER_CONFIG", cfg)
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("VERSION", "1")

	if code, out, errw := deckhandRun(append([]string{"plan", "--detailed-exitcode", "-c", file, name}, tlsFlags...)...); code != 2 || !strings.Contains(errw, "planning stack "+name+" against "+where) {
		t.Fatalf("plan over TLS by flags: exit %d, want 2\n%s%s", code, out, errw)
	}

	// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are read when the process
	// starts, as the docker CLI reads them: run deckhand as a process.
	bin := buildDeckhand(t, t.TempDir())
	cmd := exec.Command(bin, "deploy", "--with-registry-auth", "--timeout", "2m", "-c", file, name)
	cmd.Env = append(bed.TLSEnv(0), "DOCKER_CONFIG="+cfg, "VERSION=1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "deploying stack "+name+" to "+where) || !strings.Contains(string(out), "converged") {
		t.Fatalf("deploy over TLS by the environment: %v\n%s", err, out)
	}

	if out, err := exec.Command("docker", "context", "create", "tlsctx", "--docker",
		fmt.Sprintf("host=%s,ca=%s,cert=%s,key=%s", node.TLSHost, certs.CA, certs.Cert, certs.Key)).CombinedOutput(); err != nil {
		t.Fatalf("docker context create: %v\n%s", err, out)
	}
	if code, out, errw := deckhandRun("plan", "--detailed-exitcode", "--context", "tlsctx", "-c", file, name); code != 0 || !strings.Contains(errw, "context tlsctx ("+node.TLSHost+")") {
		t.Errorf("plan over TLS by a context after the deploy: exit %d, want 0\n%s%s", code, out, errw)
	}

	t.Setenv("VERSION", "2")
	if code, out, errw := deckhandRun("deploy", "--with-registry-auth", "--timeout", "2m", "--context", "tlsctx", "-c", file, name); code != 0 {
		t.Fatalf("deploy v2 over TLS by a context: exit %d\n%s%s", code, out, errw)
	}
	code, out, errw := deckhandRun(append([]string{"rollback", "--timeout", "2m", "--format", "json", name, "web"}, tlsFlags...)...)
	if code != 0 || !strings.Contains(errw, "rolling back stack "+name+" on "+where) || targetOf(t, out) != (engineJSON{Context: "default", Host: node.TLSHost}) {
		t.Fatalf("rollback --format json over TLS by flags: exit %d, want 0 naming %s in the output and the JSON\n%s%s", code, where, out, errw)
	}
	t.Setenv("VERSION", "1")
	if code, out, errw := deckhandRun("plan", "--detailed-exitcode", "--context", "tlsctx", "-c", file, name); code != 0 {
		t.Errorf("plan of v1 after the rollback over TLS: exit %d, want 0\n%s%s", code, out, errw)
	}
	code, out, errw = deckhandRun("quorum", "--context", "tlsctx", "--format", "json")
	if code != 0 || !strings.Contains(out, `"has_quorum": true`) || !strings.Contains(errw, "reading the swarm of context tlsctx ("+node.TLSHost+")") ||
		targetOf(t, out) != (engineJSON{Context: "tlsctx", Host: node.TLSHost}) {
		t.Errorf("live quorum --format json over TLS by a context: exit %d, want quorum and the target\n%s%s", code, out, errw)
	}

	bad := bed.UntrustedTLS()
	code, out, errw = deckhandRun("quorum", "-H", node.TLSHost, "--tlsverify", "--tlscacert", bad.CA, "--tlscert", bad.Cert, "--tlskey", bad.Key)
	if code != 1 || !strings.Contains(errw, "cannot reach the docker engine at "+where) || !strings.Contains(errw, "--tlscacert, --tlscert and --tlskey") {
		t.Errorf("quorum with a certificate the engine rejects: exit %d, want 1 with the TLS fix\n%s%s", code, out, errw)
	}

	t.Run("watch", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "site.conf")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var mu sync.Mutex
		var logs strings.Builder
		go func() {
			defer close(done)
			root := newCLI(strings.NewReader(""), io.Discard, lockedWriter{&mu, &logs}).newRootCommand()
			root.SetArgs(append([]string{"watch", "--out", conf, "--test-command", "", "--reload-command", "", name}, tlsFlags...))
			if err := root.ExecuteContext(ctx); err != nil {
				t.Errorf("watch: %v", err)
			}
		}()
		defer func() { cancel(); <-done }()
		waitFor(t, 60*time.Second, "watch over TLS writes the node's server", func() bool {
			b, err := os.ReadFile(conf)
			return err == nil && strings.Contains(string(b), "server "+node.Addr+":")
		})
	})
}
