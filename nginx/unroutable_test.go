package nginx

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/deckhand/deckhand/discovery"
)

// A service nginx cannot route is logged once per change of what is left
// out, not on every read.
func TestWatchWarnsOncePerChange(t *testing.T) {
	var logs bytes.Buffer
	w := &watcher{log: slog.New(slog.NewTextHandler(&logs, nil))}
	db := &discovery.UnroutableError{Service: "shop_db"}
	cache := &discovery.UnroutableError{Service: "shop_cache"}
	for range 3 {
		w.warnOnChange([]error{db})
	}
	if n := strings.Count(logs.String(), "shop_db"); n != 1 {
		t.Errorf("shop_db logged %d times over three reads, want once:\n%s", n, logs.String())
	}
	w.warnOnChange([]error{db, cache})
	w.warnOnChange([]error{cache, db})
	if n, m := strings.Count(logs.String(), "shop_db"), strings.Count(logs.String(), "shop_cache"); n != 1 || m != 1 {
		t.Errorf("after shop_cache joined: shop_db logged %d times, shop_cache %d; want once each:\n%s", n, m, logs.String())
	}
	if !strings.Contains(logs.String(), "publish one") {
		t.Errorf("the warning does not say the fix:\n%s", logs.String())
	}
	w.warnOnChange(nil)
	w.warnOnChange([]error{db})
	if n := strings.Count(logs.String(), "shop_db"); n != 2 {
		t.Errorf("shop_db, gone and back, logged %d times, want twice", n)
	}
}

func TestMetricsCountUnroutableServices(t *testing.T) {
	m := NewMetrics()
	m.readOK(time.Unix(1700000000, 0), []error{
		&discovery.UnroutableError{Service: "shop_db"},
		&discovery.UnroutableError{Service: "shop_cache", Backend: discovery.BackendTasks},
		errors.New(`service "shop_web": label deckhand.http.host="" is empty`),
	})
	var b strings.Builder
	m.WriteText(&b)
	for _, want := range []string{"deckhand_nginx_unroutable_services 2\n", "deckhand_nginx_skipped_services 3\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}
