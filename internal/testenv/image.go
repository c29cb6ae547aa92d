package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Dockerfile is the test image's Dockerfile: the static testsvc binary FROM
// scratch, health-checked by the binary itself (there is no shell).
const Dockerfile = `FROM scratch
COPY testsvc /testsvc
LABEL org.deckhand.testenv=testsvc
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=2s --timeout=2s --start-period=1s --retries=2 CMD ["/testsvc", "-healthcheck"]
ENTRYPOINT ["/testsvc"]
`

// testsvcBinary caches the static testsvc build for the life of the test binary.
var testsvcBinary = sync.OnceValues(buildTestsvc)

// buildTestsvc compiles ./testsvc with CGO_ENABLED=0 for the host's architecture.
func buildTestsvc() ([]byte, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, fmt.Errorf("cannot locate the testenv sources to build testsvc")
	}
	src := filepath.Join(filepath.Dir(file), "testsvc")
	goBin, err := exec.LookPath("go") // go test puts its own toolchain first on PATH
	if err != nil {
		return nil, fmt.Errorf("no go toolchain on PATH to build testsvc: %w", err)
	}
	tmp, err := os.MkdirTemp("", "deckhand-testsvc-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "testsvc")
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", src, err, b)
	}
	return os.ReadFile(out)
}

// buildContext is the tar the engine builds the test image from.
func buildContext(bin []byte) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(Dockerfile)}, {"testsvc", 0o755, bin}} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// BuildImage builds the test service image (see Dockerfile and package
// testsvc) FROM scratch through the engine API, tags it tag, and untags it
// when t ends. It returns tag.
func BuildImage(t testing.TB, c *client.Client, tag string) string {
	t.Helper()
	UnitOnly(t)
	bin, err := testsvcBinary()
	if err != nil {
		t.Fatalf("build the testsvc binary: %v", err)
	}
	bctx, err := buildContext(bin)
	if err != nil {
		t.Fatalf("make the build context: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := c.ImageBuild(ctx, bctx, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("build image %s: %v", tag, err)
	}
	defer res.Body.Close()
	var log strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m struct {
			Stream      string `json:"stream"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("build image %s: read the build output: %v", tag, err)
			}
			break
		}
		log.WriteString(m.Stream)
		if m.ErrorDetail != nil {
			t.Fatalf("build image %s: %s\n%s", tag, m.ErrorDetail.Message, log.String())
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Untag only: a container or another tag may still use the image.
		if _, err := c.ImageRemove(ctx, tag, client.ImageRemoveOptions{}); err != nil && !errNotFound(err) {
			t.Logf("cleanup: remove image %s: %v", tag, err)
		}
	})
	return tag
}

// PushImage pushes ref, which must name the test registry (Registry(t).Addr
// + "/..."), with the registry's credentials and returns ref@sha256:... .
func PushImage(t testing.TB, c *client.Client, ref string) string {
	t.Helper()
	r := Registry(t)
	if !strings.HasPrefix(ref, r.Addr+"/") {
		t.Fatalf("PushImage: %q is not in the test registry; tag it as %s/NAME:TAG first", ref, r.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	resp, err := c.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: r.EncodedAuth()})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	digest := ""
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		if m.Error != nil {
			t.Fatalf("push %s: %s", ref, m.Error.Message)
		}
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
	}
	if digest == "" {
		t.Fatalf("push %s: the engine reported no digest", ref)
	}
	return ref + "@" + digest
}
