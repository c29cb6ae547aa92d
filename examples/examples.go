// Package examples holds deckhand's runnable example system (app/,
// deployment.yml, config/, nginx/, demo.sh) and the helpers that build its
// image for the examples' tests and the end-to-end scenario in internal/e2e.
package examples

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Dir returns the absolute path of the examples directory in the source tree.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("examples: no caller information")
	}
	return filepath.Dir(file)
}

// Build says how to build the example image.
type Build struct {
	Tag          string   // image tag to build, such as 127.0.0.1:5000/hello:v1
	Version      string   // VERSION build argument (APP_VERSION in the image)
	CacheBreaker string   // CACHE_BREAKER build argument; change it per build
	PrivateToken string   // PRIVATE_TOKEN build argument, the secret one
	Target       string   // stage to build; "" is the production stage
	Docker       string   // docker CLI to run; "" is "docker" from PATH
	Env          []string // extra environment for the docker CLI (DOCKER_HOST...)
}

// LocalBases runs app/local-bases.sh, which makes the Go and runtime base
// images without pulling, and returns the --build-arg flags that select them.
func LocalBases(ctx context.Context, docker string, env []string) ([]string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(Dir(), "app", "local-bases.sh"))
	cmd.Env = append(os.Environ(), env...)
	if docker != "" {
		cmd.Env = append(cmd.Env, "DOCKER="+docker)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("examples/app/local-bases.sh: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.Fields(stdout.String()), nil
}

// Image builds the example image from app/ with the locally made bases and
// the engine's classic builder (its output names cached steps), and returns
// the builder's output.
func Image(ctx context.Context, b Build) (string, error) {
	args, err := LocalBases(ctx, b.Docker, b.Env)
	if err != nil {
		return "", err
	}
	args = append([]string{"build"}, args...)
	args = append(args, "--build-arg", "CACHE_BREAKER="+b.CacheBreaker, "--build-arg", "VERSION="+b.Version,
		"--build-arg", "PRIVATE_TOKEN="+b.PrivateToken, "-t", b.Tag)
	if b.Target != "" {
		args = append(args, "--target", b.Target)
	}
	args = append(args, filepath.Join(Dir(), "app"))
	docker := b.Docker
	if docker == "" {
		docker = "docker"
	}
	cmd := exec.CommandContext(ctx, docker, args...)
	cmd.Env = append(append(os.Environ(), b.Env...), "DOCKER_BUILDKIT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker build of %s: %w\n%s", b.Tag, err, out)
	}
	return string(out), nil
}
