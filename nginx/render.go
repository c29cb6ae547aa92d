package nginx

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/deckhand/deckhand/discovery"
)

//go:embed default.conf.tmpl
var defaultTemplate string

// DefaultHTTPPort is the port the default template's server blocks listen on.
const DefaultHTTPPort = 80

// Template is a parsed configuration template.
type Template struct {
	t *template.Template
}

// Data is what a template is executed with.
type Data struct {
	// HTTPPort is the port server blocks listen on.
	HTTPPort int
	// Listen is the listen directive's address: "PORT" or "ADDR:PORT".
	Listen string
	// Model is the full discovery model, for templates that need more.
	Model discovery.Model
	// Upstreams are the upstreams that have at least one server, sorted by name.
	Upstreams []discovery.Upstream
	// Servers are the virtual hosts sorted by host, then the default server (Host "").
	Servers []VirtualHost
}

// VirtualHost is one nginx server block: a host name (empty for the default
// server) and its locations sorted by path.
type VirtualHost struct {
	Host      string
	Default   bool
	Locations []Location
	// NotFound is true when no location covers "/": the template then adds a
	// "location / { return 404; }" so nothing falls through to nginx's own root.
	NotFound bool
}

// Location routes a path prefix to an upstream; Empty means the upstream has
// no live server and the location answers 503.
type Location struct {
	Path     string
	Upstream string
	Service  string
	Empty    bool
}

// Funcs are the helper functions available to templates.
var Funcs = template.FuncMap{
	"quote": Quote,
	"join":  strings.Join,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
}

// Quote returns s as an nginx double-quoted string, escaping '"' and '\'.
func Quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// DefaultTemplate returns the built-in template: an http-level file meant for
// an include inside nginx's http {} block.
func DefaultTemplate() *Template {
	t, err := ParseTemplate("default", defaultTemplate)
	if err != nil {
		panic(err) // the embedded template is tested
	}
	return t
}

// TemplateError is a template text that does not parse.
type TemplateError struct {
	Name string // the template's name: its file for LoadTemplate
	Err  error  // text/template's error
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("parse template %s: %v; fix the template (its data is nginx.Data)", e.Name, e.Err)
}

func (e *TemplateError) Unwrap() error { return e.Err }

// ParseTemplate parses a template text with missingkey=error and Funcs; a
// text that does not parse is a *TemplateError.
func ParseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(Funcs).Parse(text)
	if err != nil {
		return nil, &TemplateError{Name: name, Err: err}
	}
	return &Template{t: t}, nil
}

// LoadTemplate reads and parses the template file at path; an empty path
// gives the default template. A file that cannot be read is an error
// wrapping the *fs.PathError, one that does not parse a *TemplateError.
func LoadTemplate(path string) (*Template, error) {
	if path == "" {
		return DefaultTemplate(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w; check the file's path", err)
	}
	return ParseTemplate(path, string(b))
}

// Render executes tmpl with the model. It is pure; every name, host, path and
// address is checked again so a hand-made model cannot inject nginx syntax.
func Render(m discovery.Model, tmpl *Template, httpPort int) ([]byte, error) {
	return RenderListen(m, tmpl, "", httpPort)
}

// RenderListen is Render with server blocks listening on listenAddr (an IP
// address; empty means every address).
func RenderListen(m discovery.Model, tmpl *Template, listenAddr string, httpPort int) ([]byte, error) {
	d, err := NewData(m, httpPort)
	if err != nil {
		return nil, err
	}
	d.Listen, err = listenArg(listenAddr, httpPort)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.t.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("render nginx config: %w; fix the template", err)
	}
	return buf.Bytes(), nil
}

// listenArg builds the listen directive's argument from an IP address and port.
func listenArg(addr string, port int) (string, error) {
	if addr == "" {
		return strconv.Itoa(port), nil
	}
	ip, err := parseListenAddr(addr)
	if err != nil {
		return "", err
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), nil
}

// CheckListenAddr reports whether addr can be the address server blocks
// listen on: an IP address without a zone, or "" for every address.
func CheckListenAddr(addr string) error {
	if addr == "" {
		return nil
	}
	_, err := parseListenAddr(addr)
	return err
}

func parseListenAddr(addr string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("listen address %q is not an IP address; give one such as 127.0.0.1, or none for every address", addr)
	}
	return ip, nil
}

// NewData checks the model and arranges it for templates.
func NewData(m discovery.Model, httpPort int) (Data, error) {
	if httpPort < 1 || httpPort > 65535 {
		return Data{}, fmt.Errorf("http port %d is out of range; give a port between 1 and 65535", httpPort)
	}
	d := Data{HTTPPort: httpPort, Listen: strconv.Itoa(httpPort), Model: m}
	servers := map[string]*VirtualHost{}
	live := map[string]bool{}
	owner := map[string]string{}
	for _, s := range m.Services {
		if err := discovery.ValidName(s.Name); err != nil {
			return Data{}, fmt.Errorf("service %q: name %w", s.Name, err)
		}
		for _, u := range s.Upstreams {
			if err := discovery.ValidName(u.Name); err != nil {
				return Data{}, fmt.Errorf("upstream %q: name %w", u.Name, err)
			}
			if _, dup := owner[u.Name]; dup {
				return Data{}, fmt.Errorf("upstream %q is defined twice; rename one of the services", u.Name)
			}
			owner[u.Name] = s.Name
			for _, srv := range u.Servers {
				if err := discovery.ValidAddr(srv.Addr); err != nil || srv.Port == 0 || srv.Port > 65535 {
					return Data{}, fmt.Errorf("upstream %q: server %q is not a valid address:port", u.Name, srv.String())
				}
			}
			if len(u.Servers) > 0 {
				live[u.Name] = true
				u.Servers = slices.Clone(u.Servers)
				discovery.SortServers(u.Servers)
				u.Servers = slices.Compact(u.Servers)
				d.Upstreams = append(d.Upstreams, u)
			}
		}
	}
	for _, s := range m.Services {
		for _, r := range s.Routes {
			if _, ok := owner[r.Upstream]; !ok {
				return Data{}, fmt.Errorf("service %q: route to unknown upstream %q", s.Name, r.Upstream)
			}
			host := r.Host
			if host != "" {
				h, err := discovery.NormalizeHost(host)
				if err != nil {
					return Data{}, fmt.Errorf("service %q: host %q %w", s.Name, host, err)
				}
				host = h
			}
			if err := discovery.ValidPath(r.Path); err != nil {
				return Data{}, fmt.Errorf("service %q: path %q %w", s.Name, r.Path, err)
			}
			vh := servers[host]
			if vh == nil {
				vh = &VirtualHost{Host: host, Default: host == ""}
				servers[host] = vh
			}
			if slices.ContainsFunc(vh.Locations, func(l Location) bool { return l.Path == r.Path }) {
				return Data{}, fmt.Errorf("service %q: host %q path %q is routed twice", s.Name, host, r.Path)
			}
			vh.Locations = append(vh.Locations, Location{Path: r.Path, Upstream: r.Upstream, Service: s.Name, Empty: !live[r.Upstream]})
		}
	}
	if servers[""] == nil {
		servers[""] = &VirtualHost{Default: true}
	}
	for _, vh := range servers {
		slices.SortFunc(vh.Locations, func(a, b Location) int { return strings.Compare(a.Path, b.Path) })
		vh.NotFound = !slices.ContainsFunc(vh.Locations, func(l Location) bool { return l.Path == "/" })
		d.Servers = append(d.Servers, *vh)
	}
	slices.SortFunc(d.Servers, func(a, b VirtualHost) int {
		if a.Default != b.Default {
			if a.Default {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Host, b.Host)
	})
	slices.SortFunc(d.Upstreams, func(a, b discovery.Upstream) int { return strings.Compare(a.Name, b.Name) })
	return d, nil
}
