package nginx

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/engine"
	"github.com/deckhand/deckhand/internal/testenv"
)

// TestWatchSurvivesEngineRestart restarts the Docker engine while watch runs:
// watch must ride out the outage, never write a config that fails nginx -t,
// and converge once the engine and the service's tasks are back.
//
// It stops the engine every other test uses, so it only runs when asked:
// DECKHAND_E2E_DISRUPTIVE=1 (and as root, with dockerd's pid in
// /var/run/docker.pid, as hack/testenv.sh starts it).
func TestWatchSurvivesEngineRestart(t *testing.T) {
	if os.Getenv("DECKHAND_E2E_DISRUPTIVE") != "1" {
		t.Skip("restarts the shared Docker engine; set DECKHAND_E2E_DISRUPTIVE=1 to run it")
	}
	c := testenv.Engine(t)
	bin := testenv.Nginx(t)
	stack := testenv.UniqueName(t)
	image := testenv.BuildImage(t, c, "deckhand-e2e-restart:"+stack)
	host := stack + ".e2e.test"
	n := startNginx(t, bin)
	logs := &syncBuffer{}
	met := NewMetrics()
	runWatch(t, c, n, stack, DefaultTemplate(), e2eTiming, met, logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watch logs:\n%s", logs.String())
		}
	})
	id := createWebService(t, c, stack, image, testServicePort, map[string]string{discovery.LabelHost: host})
	scale(t, c, id, 2)
	upstream := stack + "_web"
	waitFor(t, 120*time.Second, "2 servers behind nginx", func() bool {
		code, _, err := n.get(host, "/")
		return err == nil && code == http.StatusOK && upstreamServers(t, n.Site, upstream) == 2
	})

	// Meanwhile, every config on disk must pass nginx -t.
	stopCheck := make(chan struct{})
	var checkWG sync.WaitGroup
	var bad []string
	checkWG.Add(1)
	go func() {
		defer checkWG.Done()
		var last []byte
		for {
			select {
			case <-stopCheck:
				return
			case <-time.After(100 * time.Millisecond):
			}
			cur, err := os.ReadFile(n.Site)
			if err != nil || bytes.Equal(cur, last) {
				continue
			}
			last = cur
			if out, err := exec.Command("sh", "-c", n.TestCmd).CombinedOutput(); err != nil {
				bad = append(bad, fmt.Sprintf("%v: %s\n%s", err, out, cur))
			}
		}
	}()

	restartEngine(t)
	waitFor(t, 60*time.Second, "watch to see the engine unreachable or recover", func() bool {
		return strings.Contains(logs.String(), "cannot read the swarm") || strings.Contains(logs.String(), "event stream broke")
	})
	waitFor(t, 180*time.Second, "watch to converge after the restart", func() bool {
		code, _, err := n.get(host, "/")
		return met.Healthy() && err == nil && code == http.StatusOK && upstreamServers(t, n.Site, upstream) == 2 &&
			len(runningTasks(t, c, id)) == 2
	})
	close(stopCheck)
	checkWG.Wait()
	if len(bad) > 0 {
		t.Fatalf("watch wrote %d config(s) that fail nginx -t, first:\n%s", len(bad), bad[0])
	}
}

// restartEngine stops dockerd (pid from /var/run/docker.pid) and starts it
// again with the same command line, then waits until it answers.
func restartEngine(t *testing.T) {
	t.Helper()
	raw, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		testenv.Unavailable(t, "read dockerd's pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("dockerd pid file holds %q", raw)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("read dockerd's command line: %v", err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if !strings.HasSuffix(args[0], "dockerd") {
		t.Fatalf("pid %d is %q, not dockerd", pid, args[0])
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("stop dockerd: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("dockerd (pid %d) did not stop within 60 s", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf, err := os.OpenFile(filepath.Join(testenv.Dir(), "dockerd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dockerd again: %v", err)
	}
	_ = os.WriteFile(filepath.Join(testenv.Dir(), "dockerd.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	go func() { _ = cmd.Wait() }()
	waitFor(t, 120*time.Second, "dockerd to answer again", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ec, err := engine.Connect(ctx)
		if err != nil {
			return false
		}
		_ = ec.Close()
		return true
	})
}
