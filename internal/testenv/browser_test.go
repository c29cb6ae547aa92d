package testenv

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestBrowser loads a page in headless chromium, reads its DOM and takes
// a screenshot.
func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<!DOCTYPE html><title>t</title><p id="n">hello</p>`)
	}))
	defer srv.Close()
	b := StartBrowser(t, 400, 300)
	if err := b.Open(srv.URL + "/"); err != nil {
		t.Fatal(err)
	}
	var first string
	if err := b.Eval(`document.getElementById("n").textContent`, &first); err != nil || first != "hello" {
		t.Fatalf("read the page: %q %v", first, err)
	}
	if err := b.Eval(`no_such_function()`, new(any)); err == nil {
		t.Fatal("an exception in the page must be an error")
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	if err := b.Screenshot(shot); err != nil {
		t.Fatal(err)
	}
	if png, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot is no PNG: %v", err)
	}
}
