package main

import (
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/testenv"
)

// pageServer is one server row of the status page, as the browser sees it.
type pageServer struct {
	Addr  string   `json:"addr"`
	Class string   `json:"class"`
	Cells []string `json:"cells"`
}

// pageState is what the test reads from the status page in the browser.
type pageState struct {
	Loaded   float64      `json:"loaded"` // performance.timeOrigin: changes on every (re)load
	Servers  []pageServer `json:"servers"`
	Skipped  []string     `json:"skipped"`
	Injected int          `json:"injected"`
	Title    string       `json:"title"`
	Engine   string       `json:"engine"`
	Test     string       `json:"test"`
	Reload   string       `json:"reload"`
}

// pageStateJS reads pageState for upstream %q.
const pageStateJS = `(() => {
  const sec = document.querySelector('section.route[data-upstream=%q]');
  const text = id => (document.getElementById(id) || {textContent: ''}).textContent.trim();
  return {
    loaded: performance.timeOrigin,
    servers: sec ? [...sec.querySelectorAll('tr.server')].map(r => ({
      addr: r.dataset.server, class: r.className, cells: [...r.cells].map(c => c.textContent.trim())})) : [],
    skipped: [...document.querySelectorAll('#skipped li')].map(li => li.textContent),
    injected: document.querySelectorAll('#injected, img').length,
    title: document.title, engine: text('engine'), test: text('test'), reload: text('reload'),
  };
})()`

// TestWatchStatusPageE2E runs `deckhand watch` against the test swarm and a
// private nginx and looks at its status page in headless chromium: the
// upstream and its server with node and task, a scale-up showing the new
// server after the page reloads itself, and a label value that tries to
// inject HTML showing up as text. The screenshot stays in the test's temp
// dir (DECKHAND_STATUS_SCREENSHOT copies it elsewhere, for the README).
func TestWatchStatusPageE2E(t *testing.T) {
	c := testenv.Engine(t)
	nginxBin := testenv.Nginx(t)
	browser := testenv.StartBrowser(t, 1100, 760)
	stack := testenv.UniqueName(t)
	image := testenv.BuildImage(t, c, "deckhand-status-web:"+stack)
	t.Cleanup(func() { removeServices(t, c, stack) })

	web := createStatusService(t, c, stack, "web", image, 1, map[string]string{discovery.LabelHost: stack + ".example.test"})
	const evil = `<img id=injected src=x onerror="document.title='pwned'">`
	createStatusService(t, c, stack, "evil", image, 0, map[string]string{discovery.LabelHost: evil})

	dir := t.TempDir()
	ng := startPrivateNginx(t, nginxBin, dir)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	var logs strings.Builder
	var logMu sync.Mutex
	done := make(chan int, 1)
	go func() {
		root := newCLI(strings.NewReader(""), io.Discard, lockedWriter{&logMu, &logs}).newRootCommand()
		root.SetArgs([]string{"watch", "--out", ng.site, "--test-command", ng.test, "--reload-command", ng.reload,
			"--listen-addr", "127.0.0.1", "--http-port", fmt.Sprint(ng.port), "--metrics-addr", metricsAddr,
			"--poll-slow", "500ms", stack})
		if err := root.ExecuteContext(ctx); err != nil {
			t.Errorf("watch: %v", err)
		}
		done <- 0
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		logMu.Lock()
		t.Logf("watch log:\n%s", logs.String())
		logMu.Unlock()
	})

	page := "http://" + metricsAddr + "/"
	webUp := stack + "_web"
	waitForHTTP(t, page)
	if err := browser.Open(page); err != nil {
		t.Fatal(err)
	}
	read := func() pageState {
		var s pageState
		if err := browser.Eval(fmt.Sprintf(pageStateJS, webUp), &s); err != nil {
			t.Fatalf("read the page: %v", err)
		}
		return s
	}
	waitPage := func(what string, cond func(pageState) bool) pageState {
		t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			s := read()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s; it shows %+v", what, s)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	first := waitPage("the upstream with its one server", func(s pageState) bool { return len(s.Servers) == 1 })
	tasks := statusRunningTasks(t, c, web)
	if len(tasks) != 1 {
		t.Fatalf("want 1 running task, got %d", len(tasks))
	}
	node := inspectNode(t, c, tasks[0].NodeID)
	wantCells := []string{serverAddr(t, node, tasks[0]), node.Description.Hostname, fmt.Sprintf("%s.%d %s", webUp, tasks[0].Slot, tasks[0].ID[:12])}
	if got := first.Servers[0].Cells; len(got) < 3 || got[0] != wantCells[0] || got[1] != wantCells[1] || got[2] != wantCells[2] {
		t.Errorf("server row %q, want it to start with %q", got, wantCells)
	}
	if !strings.HasPrefix(first.Engine, "reachable") || !strings.HasPrefix(first.Test, "ok") || !strings.HasPrefix(first.Reload, "ok") {
		t.Errorf("engine %q, test %q, reload %q: want reachable and both ok", first.Engine, first.Test, first.Reload)
	}

	// The label that tries to inject HTML is on the page as text.
	if first.Injected != 0 || first.Title == "pwned" {
		t.Errorf("the label's HTML became markup: %d injected elements, title %q", first.Injected, first.Title)
	}
	if len(first.Skipped) != 1 || !strings.Contains(first.Skipped[0], `label deckhand.http.host="<img id=injected src=x onerror=`) {
		t.Errorf("skipped services %q, want the evil label's value shown as text: %s", first.Skipped, evil)
	}

	// Scale up: the page shows the new server after it reloads itself.
	scaleService(t, c, web, 2)
	second := waitPage("the new server after the scale-up", func(s pageState) bool { return len(s.Servers) == 2 })
	if second.Loaded == first.Loaded {
		t.Errorf("the page showed the new server without reloading itself")
	}
	added := 0
	for _, s := range second.Servers {
		if strings.Contains(s.Class, "added") && strings.HasPrefix(s.Cells[3], "added ") {
			added++
		}
	}
	if added != 1 {
		t.Errorf("want the new server marked as added, rows %+v", second.Servers)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	if err := browser.Screenshot(shot); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(shot); err != nil {
		t.Error(err)
	} else {
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width < 100 || cfg.Height < 100 {
			t.Errorf("screenshot %s is no picture of the page: %v, %dx%d", shot, err, cfg.Width, cfg.Height)
		}
	}
	t.Logf("screenshot: %s", shot)
	if dst := os.Getenv("DECKHAND_STATUS_SCREENSHOT"); dst != "" {
		if b, err := os.ReadFile(shot); err != nil || os.WriteFile(dst, b, 0o644) != nil {
			t.Errorf("copy the screenshot to %s: %v", dst, err)
		}
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// privateNginx is an nginx of its own (prefix, pid, logs in a temp dir)
// listening on a free port of 127.0.0.1, including site.
type privateNginx struct {
	site, test, reload string
	port               int
}

// startPrivateNginx starts nginx on an empty site and stops it when t ends.
func startPrivateNginx(t *testing.T, bin, dir string) privateNginx {
	t.Helper()
	args := fmt.Sprintf("-p %[1]s -c %[1]s/nginx.conf -e %[1]s/error.log", dir)
	n := privateNginx{site: filepath.Join(dir, "site.conf"), test: bin + " -t -q " + args, reload: bin + " -s reload " + args, port: testenv.FreePort(t)}
	conf := fmt.Sprintf("daemon off;\npid %[1]s/nginx.pid;\nerror_log %[1]s/error.log;\nevents {}\nhttp {\n"+
		"    access_log off;\n    client_body_temp_path %[1]s/body;\n    proxy_temp_path %[1]s/proxy;\n"+
		"    fastcgi_temp_path %[1]s/fastcgi;\n    uwsgi_temp_path %[1]s/uwsgi;\n    scgi_temp_path %[1]s/scgi;\n    include %[2]s;\n}\n", dir, n.site)
	if os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644) != nil || os.WriteFile(n.site, nil, 0o644) != nil {
		t.Fatal("write the nginx config")
	}
	cmd := exec.Command(bin, strings.Fields(args)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	return n
}

// createStatusService creates STACK_NAME with replicas tasks of image, one
// host-mode port and labels, removed with the stack.
func createStatusService(t *testing.T, c *client.Client, stack, name, image string, replicas uint64, labels map[string]string) string {
	t.Helper()
	labels[discovery.LabelStack] = stack
	spec := swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: stack + "_" + name, Labels: labels},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: image}},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		EndpointSpec: &swarm.EndpointSpec{Ports: []swarm.PortConfig{{Protocol: "tcp", TargetPort: 8080, PublishMode: swarm.PortConfigPublishModeHost}}},
	}
	res, err := c.ServiceCreate(context.Background(), client.ServiceCreateOptions{Spec: spec})
	if err != nil {
		t.Fatalf("create service %s_%s: %v", stack, name, err)
	}
	return res.ID
}

// scaleService sets the service's replica count, retrying when another
// writer updated it in between.
func scaleService(t *testing.T, c *client.Client, id string, n uint64) {
	t.Helper()
	var err error
	for range 5 {
		var s client.ServiceInspectResult
		if s, err = c.ServiceInspect(context.Background(), id, client.ServiceInspectOptions{}); err != nil {
			break
		}
		spec := s.Service.Spec
		spec.Mode.Replicated.Replicas = &n
		if _, err = c.ServiceUpdate(context.Background(), id, client.ServiceUpdateOptions{Version: s.Service.Version, Spec: spec}); err == nil ||
			!strings.Contains(err.Error(), "out of sequence") {
			break
		}
	}
	if err != nil {
		t.Fatalf("scale service to %d: %v", n, err)
	}
}

// statusRunningTasks lists the service's running tasks.
func statusRunningTasks(t *testing.T, c *client.Client, id string) []swarm.Task {
	t.Helper()
	res, err := c.TaskList(context.Background(), client.TaskListOptions{Filters: make(client.Filters).Add("service", id).Add("desired-state", "running")})
	if err != nil {
		t.Fatal(err)
	}
	var out []swarm.Task
	for _, tk := range res.Items {
		if tk.Status.State == swarm.TaskStateRunning {
			out = append(out, tk)
		}
	}
	return out
}

// inspectNode is the node with id.
func inspectNode(t *testing.T, c *client.Client, id string) swarm.Node {
	t.Helper()
	res, err := c.NodeInspect(context.Background(), id, client.NodeInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Node
}

// serverAddr is the address nginx reaches task's host-mode port 8080 on.
func serverAddr(t *testing.T, node swarm.Node, task swarm.Task) string {
	t.Helper()
	for _, p := range task.Status.PortStatus.Ports {
		if p.TargetPort == 8080 && p.PublishedPort != 0 {
			return discovery.Server{Addr: node.Status.Addr, Port: p.PublishedPort}.String()
		}
	}
	t.Fatalf("task %s publishes no port for 8080: %+v", task.ID, task.Status.PortStatus)
	return ""
}

// waitForHTTP waits until url answers 200.
func waitForHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
