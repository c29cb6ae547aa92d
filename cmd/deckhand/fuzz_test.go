package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzCommandLine drives the whole command tree with random arguments,
// flags and compose file contents, against an engine that is not there:
// every run ends with exit 0, 1, 2 or 3, a failure says something, and
// nothing panics.
func FuzzCommandLine(f *testing.F) {
	stack := "services:\n  web:\n    image: registry.invalid/web:${TAG:-1}\n    ports: [\"8080:80\"]\n"
	for _, seed := range []struct{ line, file string }{
		{"render -c stack.yml app", stack},
		{"render --format json --allow-missing -c stack.yml app", "services:\n  a:\n    image: ${X}\n"},
		{"render -c stack.yml -c stack.yml --strict-swarm app", "services: [1, 2]\n"},
		{"plan --format xml -c stack.yml app", stack},
		{"plan --detailed-exitcode --resolve-image sometimes -c stack.yml app", stack},
		{"deploy --atomic --timeout 1s -c stack.yml app", stack},
		{"deploy --detach --parallel -3 -c stack.yml bad..name", stack},
		{"rollback app web", ""},
		{"quorum --managers 5 --p 0.01", ""},
		{"quorum --p 2 --zones 2,x", ""},
		{"quorum --table --mtbf 0h --mttr 4h --format json", ""},
		{"quorum --target 1e-6 --p 0.01 --zone-count 3", ""},
		{"nginx render --backend dns --network x", ""},
		{"nginx apply --out site.conf --listen-addr localhost", ""},
		{"watch --out site.conf --http-port 70000", ""},
		{"--context a -H b quorum", ""},
		{"version", ""},
		{"completion bash", ""},
		{"help deploy", ""},
		{"render -c - app", "services:\n  a: &a\n    <<: *a\n"},
	} {
		f.Add(seed.line, []byte(seed.file))
	}
	f.Fuzz(func(t *testing.T, line string, file []byte) {
		args := strings.Fields(line)
		if len(args) > 16 {
			args = args[:16]
		}
		for _, a := range args {
			// Keep every file the commands may write inside the test's
			// directory, and every address on loopback.
			if strings.ContainsAny(a, `/\:`) || strings.Contains(a, "..") {
				return
			}
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "stack.yml"), file, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Chdir(dir)
		t.Setenv("DOCKER_HOST", "unix:///nonexistent/fuzz.sock")
		t.Setenv("DOCKER_CONFIG", dir)
		t.Setenv("DOCKER_CONTEXT", "")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var out, errw bytes.Buffer
		var code int
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("deckhand %s panicked: %v", strings.Join(args, " "), r)
				}
			}()
			code = newCLI(bytes.NewReader(file), &out, &errw).runContext(ctx, append([]string{"deckhand"}, args...))
		}()
		switch {
		case code < 0 || code > 3:
			t.Fatalf("deckhand %s: exit %d, want 0 to 3\n%s%s", strings.Join(args, " "), code, out.String(), errw.String())
		case code == 1 && strings.TrimSpace(errw.String()) == "":
			t.Fatalf("deckhand %s failed without a message\n%s", strings.Join(args, " "), out.String())
		case strings.Contains(errw.String(), "goroutine ") || strings.Contains(out.String(), "goroutine "):
			t.Fatalf("deckhand %s printed a stack trace\n%s%s", strings.Join(args, " "), out.String(), errw.String())
		}
	})
}
