package nginx

import (
	"bytes"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/discovery"
	"github.com/deckhand/deckhand/internal/golden"
)

func srv(addr string, port uint32) discovery.Server { return discovery.Server{Addr: addr, Port: port} }

// goldenModels is the range of models whose rendering is pinned in
// testdata/*.conf and checked with the real nginx -t.
var goldenModels = map[string]discovery.Model{
	"empty": {},
	"ingress": {Services: []discovery.Service{{
		Stack: "my-cool-app", Name: "my-cool-app_nginx",
		Upstreams: []discovery.Upstream{{Name: "my-cool-app_nginx", TargetPort: 80, Servers: []discovery.Server{
			srv("10.0.0.11", 30000), srv("10.0.0.12", 30000), srv("10.0.0.13", 30000),
		}}},
		Routes: []discovery.Route{{Host: "my-cool-app.example.com", Path: "/", Upstream: "my-cool-app_nginx"}},
	}}},
	"host-mode": {Services: []discovery.Service{{
		Stack: "shop", Name: "shop_api",
		Upstreams: []discovery.Upstream{{Name: "shop_api", TargetPort: 8080, Servers: []discovery.Server{
			srv("10.99.0.11", 31001), srv("10.99.0.12", 31002),
		}}},
		Routes: []discovery.Route{{Path: "/api/", Upstream: "shop_api"}},
	}}},
	"tasks": {Services: []discovery.Service{{
		Stack: "shop", Name: "shop_web",
		Upstreams: []discovery.Upstream{{Name: "shop_web", TargetPort: 8080, Servers: []discovery.Server{
			srv("10.0.9.3", 8080), srv("10.0.9.12", 8080),
		}}},
		Routes: []discovery.Route{{Host: "shop.example", Path: "/", Upstream: "shop_web"}},
	}}},
	"empty-upstream": {Services: []discovery.Service{
		{Stack: "shop", Name: "shop_down", Upstreams: []discovery.Upstream{{Name: "shop_down", TargetPort: 80, Servers: []discovery.Server{}}},
			Routes: []discovery.Route{{Host: "down.example", Path: "/", Upstream: "shop_down"}}},
		{Stack: "shop", Name: "shop_idle", Upstreams: []discovery.Upstream{{Name: "shop_idle", TargetPort: 80, Servers: []discovery.Server{}}},
			Routes: []discovery.Route{}},
	}},
	"several-stacks": {Services: []discovery.Service{
		{Stack: "blog", Name: "blog_web", Upstreams: []discovery.Upstream{{Name: "blog_web", TargetPort: 80, Servers: []discovery.Server{srv("10.0.0.1", 30080)}}},
			Routes: []discovery.Route{{Host: "blog.example", Path: "/", Upstream: "blog_web"}}},
		{Stack: "blog", Name: "blog_admin", Upstreams: []discovery.Upstream{{Name: "blog_admin", TargetPort: 80, Servers: []discovery.Server{srv("10.0.0.1", 30081)}}},
			Routes: []discovery.Route{{Host: "blog.example", Path: "/admin/", Upstream: "blog_admin"}}},
		{Stack: "shop", Name: "shop_web", Upstreams: []discovery.Upstream{
			{Name: "shop_web_80", TargetPort: 80, Servers: []discovery.Server{srv("10.0.0.1", 30090), srv("10.0.0.2", 30090)}},
			{Name: "shop_web_9090", TargetPort: 9090, Servers: []discovery.Server{srv("10.0.0.1", 30091), srv("10.0.0.2", 30091)}},
		}, Routes: []discovery.Route{{Host: "shop.example", Path: "/", Upstream: "shop_web_80"}}},
		{Stack: "", Name: "metrics", Upstreams: []discovery.Upstream{{Name: "metrics", TargetPort: 9100, Servers: []discovery.Server{srv("10.0.0.2", 30100)}}},
			Routes: []discovery.Route{{Path: "/metrics", Upstream: "metrics"}}},
	}},
	"odd-labels": {Services: []discovery.Service{
		{Stack: "x-1.y", Name: "x-1.y_w.e-b_2", Upstreams: []discovery.Upstream{{Name: "x-1.y_w.e-b_2", TargetPort: 80, Servers: []discovery.Server{
			srv("fd00::1", 30000), srv("localhost", 30000), srv("10.0.0.1", 30000),
		}}},
			Routes: []discovery.Route{{Host: "*.wild_card.example", Path: "/café/~user/v1.2/a+b,c=d@e:f!*&", Upstream: "x-1.y_w.e-b_2"}}},
		{Stack: "x-1.y", Name: "x-1.y_digits", Upstreams: []discovery.Upstream{{Name: "x-1.y_digits", TargetPort: 80, Servers: []discovery.Server{srv("10.0.0.2", 30001)}}},
			Routes: []discovery.Route{{Host: "123.45.example", Path: "/-/", Upstream: "x-1.y_digits"}}},
	}},
}

func renderGolden(t *testing.T, name string) []byte {
	t.Helper()
	out, err := Render(goldenModels[name], DefaultTemplate(), DefaultHTTPPort)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func TestRenderGolden(t *testing.T) {
	for name := range goldenModels {
		t.Run(name, func(t *testing.T) {
			out := renderGolden(t, name)
			golden.Assert(t, out, filepath.Join("testdata", name+".conf"))
			if _, err := parseConfig(string(out)); err != nil {
				t.Fatalf("rendered config does not parse: %v", err)
			}
			again := renderGolden(t, name)
			if !bytes.Equal(out, again) {
				t.Fatal("render is not byte-stable")
			}
		})
	}
}

func TestRenderEmptyUpstreamAnswers503(t *testing.T) {
	out := string(renderGolden(t, "empty-upstream"))
	if strings.Contains(out, "upstream shop_down") || strings.Contains(out, "upstream shop_idle") {
		t.Fatal("an upstream without servers must not be rendered: nginx refuses it")
	}
	ds, err := parseConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, d := range ds {
		if d.name != "server" || d.children[1].args[0] != "down.example" {
			continue
		}
		for _, l := range d.children {
			if l.name == "location" {
				found = true
				if !reflect.DeepEqual(l.children[0], directive{name: "return", args: []string{"503"}}) {
					t.Fatalf("location %v must return 503, has %+v", l.args, l.children)
				}
			}
		}
	}
	if !found {
		t.Fatal("no location rendered")
	}
}

func TestRenderRejectsHostileModels(t *testing.T) {
	up := []discovery.Upstream{{Name: "a", Servers: []discovery.Server{srv("10.0.0.1", 80)}}}
	bad := []discovery.Model{
		{Services: []discovery.Service{{Name: "a;", Upstreams: up}}},
		{Services: []discovery.Service{{Name: "a", Upstreams: []discovery.Upstream{{Name: "a {", Servers: nil}}}}},
		{Services: []discovery.Service{{Name: "a", Upstreams: []discovery.Upstream{{Name: "a", Servers: []discovery.Server{srv("1.2.3.4;", 80)}}}}}},
		{Services: []discovery.Service{{Name: "a", Upstreams: up, Routes: []discovery.Route{{Host: "x}", Path: "/", Upstream: "a"}}}}},
		{Services: []discovery.Service{{Name: "a", Upstreams: up, Routes: []discovery.Route{{Path: "/ {", Upstream: "a"}}}}},
		{Services: []discovery.Service{{Name: "a", Upstreams: up, Routes: []discovery.Route{{Path: "/", Upstream: "b"}}}}},
		{Services: []discovery.Service{{Name: "a", Upstreams: up}, {Name: "b", Upstreams: up}}},
		{Services: []discovery.Service{{Name: "a", Upstreams: up, Routes: []discovery.Route{{Path: "/", Upstream: "a"}, {Path: "/", Upstream: "a"}}}}},
	}
	for i, m := range bad {
		if out, err := Render(m, DefaultTemplate(), 80); err == nil {
			t.Errorf("model %d: want an error, rendered\n%s", i, out)
		}
	}
	if _, err := Render(discovery.Model{}, DefaultTemplate(), 0); err == nil {
		t.Error("port 0: want an error")
	}
}

func TestUserTemplate(t *testing.T) {
	tmpl, err := ParseTemplate("user", `{{range .Upstreams}}{{.Name}}={{range .Servers}}{{.}} {{end}}{{end}} {{quote "a\"b"}} {{.HTTPPort}}`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(goldenModels["host-mode"], tmpl, 8080)
	if err != nil {
		t.Fatal(err)
	}
	if want := `shop_api=10.99.0.11:31001 10.99.0.12:31002  "a\"b" 8080`; string(out) != want {
		t.Fatalf("got %q want %q", out, want)
	}
	bad, err := ParseTemplate("bad", `{{.NoSuchField}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(discovery.Model{}, bad, 80); err == nil || !strings.Contains(err.Error(), "fix the template") {
		t.Fatalf("want an execution error that says the fix, got %v", err)
	}
	if _, err := ParseTemplate("broken", `{{range}}`); err == nil {
		t.Fatal("want a parse error")
	}
	if _, err := LoadTemplate(filepath.Join(t.TempDir(), "missing.tmpl")); err == nil {
		t.Fatal("want an error for a missing template file")
	}
}

func TestRenderListenAddr(t *testing.T) {
	for addr, want := range map[string]string{"": "listen 8080 default_server;", "127.0.0.1": "listen 127.0.0.1:8080 default_server;", "::1": "listen [::1]:8080 default_server;"} {
		out, err := RenderListen(discovery.Model{}, DefaultTemplate(), addr, 8080)
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("listen %q: %v\n%s", addr, err, out)
		}
	}
	for _, bad := range []string{"localhost", "127.0.0.1;", "fe80::1%eth0"} {
		if _, err := RenderListen(discovery.Model{}, DefaultTemplate(), bad, 80); err == nil {
			t.Errorf("listen %q: want an error", bad)
		}
	}
}

// TestTemplateDataAsDocumented executes a template that uses every field and
// function `deckhand nginx render --help` documents.
func TestTemplateDataAsDocumented(t *testing.T) {
	text := `{{.HTTPPort}} {{.Listen}}
{{range .Upstreams}}{{.Name}} {{.TargetPort}}{{range .Servers}} {{.}}={{.Addr}},{{.Port}}{{end}}
{{end}}{{range .Servers}}{{quote .Host}} {{.Default}} {{.NotFound}}{{range .Locations}} {{.Path}}>{{.Upstream}}/{{.Service}}/{{.Empty}}{{end}}
{{end}}{{len .Model.Services}} {{lower "A"}}{{upper "b"}}`
	tmpl, err := ParseTemplate("doc", text)
	if err != nil {
		t.Fatal(err)
	}
	m := discovery.Model{Services: []discovery.Service{
		{Name: "a_up", Upstreams: []discovery.Upstream{{Name: "a_up", TargetPort: 80, Servers: []discovery.Server{srv("10.0.0.1", 30000)}}},
			Routes: []discovery.Route{{Host: "a.example", Path: "/", Upstream: "a_up"}}},
		{Name: "b_down", Upstreams: []discovery.Upstream{{Name: "b_down", TargetPort: 80, Servers: []discovery.Server{}}},
			Routes: []discovery.Route{{Path: "/b/", Upstream: "b_down"}}},
	}}
	out, err := RenderListen(m, tmpl, "127.0.0.1", 8080)
	if err != nil {
		t.Fatal(err)
	}
	want := `8080 127.0.0.1:8080
a_up 80 10.0.0.1:30000=10.0.0.1,30000
"a.example" false false />a_up/a_up/false
"" true true /b/>b_down/b_down/true
2 aB`
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if out, err := ParseTemplate("join", `{{join .X ","}}`); err != nil || out == nil {
		t.Fatalf("join must be a known function: %v", err)
	}
}
