package testenv

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Chromium returns the path of Debian's chromium, which hack/testenv.sh
// installs for the tests that look at a page in a real browser.
func Chromium(t testing.TB) string {
	t.Helper()
	UnitOnly(t)
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Unavailable(t, "chromium is not installed (not on PATH nor /usr/bin/chromium); %s", hint)
	return ""
}

// browserTimeout bounds one DevTools call.
const browserTimeout = 30 * time.Second

// Browser is a headless chromium with a fresh profile, driven over the
// DevTools protocol on a pipe (--remote-debugging-pipe: no port to share).
type Browser struct {
	cmd     *exec.Cmd
	send    *os.File
	msgs    chan map[string]json.RawMessage
	readErr chan error
	id      int
	session string
}

// StartBrowser starts chromium headless with a width×height window, opens
// one blank page and stops the browser when t ends.
func StartBrowser(t testing.TB, width, height int) *Browser {
	t.Helper()
	bin := Chromium(t)
	toChrome, send, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	recv, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--remote-debugging-pipe", "--hide-scrollbars", fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // fds 3 and 4, as --remote-debugging-pipe wants
	stderr, err := os.Create(t.TempDir() + "/chromium.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		Unavailable(t, "start %s: %v; %s", bin, err, hint)
	}
	toChrome.Close()
	fromChrome.Close()
	b := &Browser{cmd: cmd, send: send, msgs: make(chan map[string]json.RawMessage, 64), readErr: make(chan error, 1)}
	go b.read(bufio.NewReader(recv))
	t.Cleanup(func() {
		_ = b.call("Browser.close", nil, nil)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		send.Close()
		recv.Close()
		stderr.Close()
	})

	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call("Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatalf("chromium: open a page: %v (log: %s)", err, stderr.Name())
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatalf("chromium: attach to the page: %v", err)
	}
	b.session = att.SessionID
	return b
}

// read passes every message chromium sends (NUL-terminated JSON) to msgs.
func (b *Browser) read(r *bufio.Reader) {
	for {
		line, err := r.ReadBytes(0)
		if err != nil {
			b.readErr <- fmt.Errorf("chromium closed its DevTools pipe: %w", err)
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(line[:len(line)-1], &m) == nil {
			b.msgs <- m
		}
	}
}

// call sends one DevTools command (to the page once attached) and decodes
// its result into out; events that arrive meanwhile are dropped.
func (b *Browser) call(method string, params, out any) error {
	b.id++
	msg := map[string]any{"id": b.id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if b.session != "" {
		msg["sessionId"] = b.session
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.send.Write(append(raw, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	timeout := time.After(browserTimeout)
	want := strconv.Itoa(b.id)
	for {
		select {
		case m := <-b.msgs:
			if string(m["id"]) != want {
				continue
			}
			if e, ok := m["error"]; ok {
				return fmt.Errorf("%s: %s", method, e)
			}
			if out == nil {
				return nil
			}
			return json.Unmarshal(m["result"], out)
		case err := <-b.readErr:
			b.readErr <- err
			return fmt.Errorf("%s: %w", method, err)
		case <-timeout:
			return fmt.Errorf("%s: no answer from chromium within %v", method, browserTimeout)
		}
	}
}

// Open loads url in the page and waits until it has loaded.
func (b *Browser) Open(url string) error {
	if err := b.call("Page.navigate", map[string]any{"url": url}, nil); err != nil {
		return err
	}
	deadline := time.Now().Add(browserTimeout)
	for {
		var state struct{ Href, Ready string }
		if err := b.Eval(`({href: location.href, ready: document.readyState})`, &state); err == nil && state.Href == url && state.Ready == "complete" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("open %s: not loaded within %v", url, browserTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value
// (anything JSON can carry) into out.
func (b *Browser) Eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("evaluate %q: %s", expr, res.Exception.Text)
	}
	if len(res.Result.Value) == 0 {
		return errors.New("evaluate " + strconv.Quote(expr) + ": no value")
	}
	return json.Unmarshal(res.Result.Value, out)
}

// Screenshot writes a PNG of the whole page to path.
func (b *Browser) Screenshot(path string) error {
	var shot struct {
		Data string `json:"data"`
	}
	if err := b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &shot); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}
