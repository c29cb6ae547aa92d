package compose

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Warning is a problem found while loading that does not stop the render
// unless the user asks for strictness.
type Warning struct {
	Position
	Service string `json:"service,omitempty"`
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

func (w Warning) String() string {
	if w.Service != "" {
		return fmt.Sprintf("%s: service %q: %s", w.Position, w.Service, w.Message)
	}
	return fmt.Sprintf("%s: %s", w.Position, w.Message)
}

// swarmAdvice says, for each service key that `docker stack deploy` ignores
// or rejects, how to say the same thing the swarm way.
var swarmAdvice = map[string]string{
	"build":          "swarm only runs images: build and push the image first, and set image:",
	"restart":        "use deploy.restart_policy (condition: none, on-failure or any)",
	"privileged":     "swarm services cannot be privileged: grant only what is needed with cap_add",
	"devices":        "swarm services cannot map devices: run this workload outside the swarm",
	"network_mode":   "attach the service to networks: (an overlay network, or the external network \"host\")",
	"net":            "attach the service to networks: (an overlay network, or the external network \"host\")",
	"links":          "services on a shared overlay network reach each other by name: use networks: and aliases",
	"external_links": "services on a shared overlay network reach each other by name: use networks: and aliases",
	"security_opt":   "swarm services do not take security options: remove it",
	"container_name": "swarm names tasks itself (STACK_SERVICE.N.ID): remove it",
	"expose":         "services on a shared network reach every port: remove it, or publish with ports:",
	"extends":        "docker stack deploy rejects extends; deckhand resolved it at render time",
	"volumes_from":   "define a top-level volume and mount it in each service that shares it",
	"volume_driver":  "define a top-level volume with driver: and mount it",
	"cgroup_parent":  "swarm services cannot set it: remove it",
	"cgroupns_mode":  "swarm services cannot set it: remove it",
	"domainname":     "swarm services cannot set it: remove it",
	"ipc":            "swarm services cannot set it: remove it",
	"mac_address":    "swarm services cannot set it: remove it",
	"pid":            "swarm services cannot set it: remove it",
	"shm_size":       "mount a tmpfs volume at /dev/shm instead",
	"userns_mode":    "swarm services cannot set it: remove it",
	"scale":          "use deploy.replicas",
	"develop":        "compose-only (compose watch): swarm ignores it",
	"pre_start":      "compose-only lifecycle hook: swarm ignores it",
	"post_start":     "compose-only lifecycle hook: swarm ignores it",
	"pre_stop":       "compose-only lifecycle hook: swarm ignores it",
	"provider":       "compose-only: swarm ignores it",
}

// dependsOnNote says what deckhand does with depends_on, which swarm ignores.
const dependsOnNote = "depends_on is ignored by swarm and docker stack deploy: deckhand deploy writes the services it changes in waves, each after its dependencies meet their condition (service_started, service_healthy, service_completed_successfully)"

// swarmAdviceFor returns the advice for a service key, and whether the key is
// one swarm does not take. cpu_* and mem_* keys are handled by prefix.
func swarmAdviceFor(key string) (string, bool) {
	if a, ok := swarmAdvice[key]; ok {
		return a, true
	}
	switch {
	case key == "cpus" || key == "cpuset" || strings.HasPrefix(key, "cpu_"):
		return "use deploy.resources.limits.cpus and deploy.resources.reservations.cpus", true
	case key == "memswap_limit" || strings.HasPrefix(key, "mem_"):
		return "use deploy.resources.limits.memory and deploy.resources.reservations.memory", true
	}
	return "", false
}

// swarmCheck lists the service keys of one compose file that swarm does not
// take, with their position and the swarm way to say them.
func swarmCheck(file string, root *yaml.Node) []Warning {
	services := mappingValue(documentMapping(root), "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return nil
	}
	var out []Warning
	for i := 0; i+1 < len(services.Content); i += 2 {
		name, svc := services.Content[i].Value, services.Content[i+1]
		if svc.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(svc.Content); j += 2 {
			k := svc.Content[j]
			if k.Value == "depends_on" {
				out = append(out, Warning{Position: Position{File: file, Line: k.Line, Column: k.Column}, Service: name, Key: k.Value,
					Message: dependsOnNote})
				continue
			}
			advice, bad := swarmAdviceFor(k.Value)
			if !bad {
				continue
			}
			out = append(out, Warning{
				Position: Position{File: file, Line: k.Line, Column: k.Column},
				Service:  name,
				Key:      k.Value,
				Message:  fmt.Sprintf("%s is not supported by swarm: %s", k.Value, advice),
			})
		}
	}
	return out
}

// stripSwarmKeys removes the keys swarm does not take from the services of a
// loaded compose model, so the rendered stack is what swarm will run.
func stripSwarmKeys(model map[string]any) {
	services, _ := model["services"].(map[string]any)
	for _, s := range services {
		svc, ok := s.(map[string]any)
		if !ok {
			continue
		}
		for k := range svc {
			if _, bad := swarmAdviceFor(k); bad {
				delete(svc, k)
			}
		}
	}
}

// findNode returns the first node of the tree at n, in document order, that
// match accepts, or nil.
func findNode(n *yaml.Node, match func(*yaml.Node) bool) *yaml.Node {
	if match(n) {
		return n
	}
	for _, c := range n.Content {
		if f := findNode(c, match); f != nil {
			return f
		}
	}
	return nil
}

// documentMapping returns the top-level mapping of a parsed YAML document.
func documentMapping(root *yaml.Node) *yaml.Node {
	n := root
	for n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// mappingValue returns the value node of key in mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// explicitNames lists the top-level resources (kind "networks", "configs",
// ...) whose name: the user wrote in any of the files.
func explicitNames(roots []*yaml.Node) map[string]bool {
	out := map[string]bool{}
	for _, root := range roots {
		top := documentMapping(root)
		for _, kind := range []string{"networks", "volumes", "configs", "secrets"} {
			m := mappingValue(top, kind)
			if m == nil || m.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(m.Content); i += 2 {
				if mappingValue(m.Content[i+1], "name") != nil {
					out[kind+"/"+m.Content[i].Value] = true
				}
			}
		}
	}
	return out
}

func sortWarnings(ws []Warning, order map[string]int) {
	sort.SliceStable(ws, func(i, j int) bool {
		a, b := ws[i], ws[j]
		if order[a.File] != order[b.File] {
			return order[a.File] < order[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
