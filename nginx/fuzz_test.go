package nginx

import (
	"reflect"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/swarm"

	"github.com/deckhand/deckhand/discovery"
)

// labelledModel builds a model from one service carrying the given routing
// labels (present bits: 1 host, 2 path, 4 port), through discovery.Build as
// the real swarm path does.
func labelledModel(present byte, host, path, port string) (discovery.Model, []error) {
	s := swarm.Service{ID: "s1"}
	s.Spec.Name = "app_web"
	s.Spec.Labels = map[string]string{discovery.LabelStack: "app"}
	if present&1 != 0 {
		s.Spec.Labels[discovery.LabelHost] = host
	}
	if present&2 != 0 {
		s.Spec.Labels[discovery.LabelPath] = path
	}
	if present&4 != 0 {
		s.Spec.Labels[discovery.LabelPort] = port
	}
	s.Endpoint.Ports = []swarm.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 30000, PublishMode: swarm.PortConfigPublishModeIngress}}
	n := swarm.Node{ID: "n1"}
	n.Status.State = swarm.NodeStateReady
	n.Status.Addr = "10.0.0.1"
	n.Spec.Availability = swarm.NodeAvailabilityActive
	return discovery.Build([]swarm.Node{n}, []swarm.Service{s}, nil, discovery.Options{})
}

// FuzzLabelInjection checks that a hostile service label is either refused
// (the service is skipped with a warning) or yields a config with exactly the
// structure a benign value gives, the value standing as one whole argument.
func FuzzLabelInjection(f *testing.F) {
	f.Add(byte(7), "shop.example", "/api/", "80")
	f.Add(byte(1), "a;}server{listen 81;", "/", "80")
	f.Add(byte(2), "", "/x { return 200; } location /y", "")
	f.Add(byte(2), "", "/a\"b", "")
	f.Add(byte(2), "", "/$host", "")
	f.Add(byte(3), "*.EXAMPLE.com", "/café/~u", "")
	f.Add(byte(3), "x.example #", "/#", "")
	f.Add(byte(4), "", "", "80;")
	f.Add(byte(2), "", "/a\nb", "")
	f.Add(byte(1), "a'b", "/", "")
	f.Fuzz(func(t *testing.T, present byte, host, path, port string) {
		present &= 7
		m, warnings := labelledModel(present, host, path, port)
		if len(m.Services) == 0 {
			if len(warnings) == 0 {
				t.Fatal("service skipped without a warning")
			}
			return // refused: fine
		}
		out, err := Render(m, DefaultTemplate(), 80)
		if err != nil {
			t.Fatalf("discovery accepted labels the renderer refuses: %v", err)
		}
		got, err := parseConfig(string(out))
		if err != nil {
			t.Fatalf("hostile labels broke the config: %v\n%s", err, out)
		}

		benignPath := "/p"
		if r := m.Services[0].Routes; len(r) > 0 && r[0].Path == "/" {
			benignPath = "/"
		}
		bm, _ := labelledModel(present, "h.example", benignPath, "80")
		bout, err := Render(bm, DefaultTemplate(), 80)
		if err != nil {
			t.Fatal(err)
		}
		want, err := parseConfig(string(bout))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(skeleton(got), skeleton(want)) {
			t.Fatalf("structure changed by labels %q %q %q:\n%s", host, path, port, out)
		}
		for _, r := range m.Services[0].Routes {
			if r.Host != "" && !hasArg(got, "server_name", r.Host) {
				t.Fatalf("host %q is not one whole server_name argument:\n%s", r.Host, out)
			}
			if !hasArg(got, "location", r.Path) {
				t.Fatalf("path %q is not one whole location argument:\n%s", r.Path, out)
			}
		}
	})
}

func hasArg(ds []directive, name, arg string) bool {
	for _, d := range ds {
		if d.name == name && slices.Equal(d.args, []string{arg}) {
			return true
		}
		if hasArg(d.children, name, arg) {
			return true
		}
	}
	return false
}
