package deploy

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deckhand/deckhand/internal/testenv"
)

func TestZZBed(t *testing.T) {
	e := newE2E(t)
	images := make([]string, 5)
	for i := range images {
		images[i] = fmt.Sprintf("%s-%d", strings.TrimSuffix(e.image, ":v1"), i) + ":v1"
		testenv.BuildImage(t, e.c, images[i])
		testenv.PushImage(t, e.c, images[i])
	}
	var compose strings.Builder
	compose.WriteString("services:\n")
	for i := range 50 {
		fmt.Fprintf(&compose, "  svc%02d:\n    image: %s\n    environment:\n      INDEX: \"%d\"\n      VALUE: ${VALUE:-0}\n    deploy:\n      replicas: 0\n", i, images[i%5], i)
	}
	os.WriteFile("/tmp/zl/fifty.yml", []byte(compose.String()), 0o644)
	os.WriteFile("/tmp/zl/env.sh", []byte("export DOCKER_CONFIG="+e.dockerCfg+"\n"), 0o644)
	os.WriteFile("/tmp/zl/ready", nil, 0o644)
	for {
		if _, err := os.Stat("/tmp/zl/done"); err == nil {
			return
		}
		time.Sleep(time.Second)
	}
}
