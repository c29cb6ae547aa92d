package stack

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/paths"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// loadBoth loads files from dir twice, deckhand's way (prepared models, in
// groups of services when the stack is large) and compose-go's own way (the
// files' bytes, one load), and returns both projects as YAML, or their errors.
func loadBoth(t *testing.T, dir string, files []string, env map[string]string, parallel int) (ours, theirs string) {
	t.Helper()
	srcs, err := readSources(Options{Files: files}, dir)
	if err != nil {
		t.Fatal(err)
	}
	old := loadParallelism
	loadParallelism = parallel
	defer func() { loadParallelism = old }()
	show := func(p *types.Project, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		p.Name = "st"
		out, err := p.MarshalYAML()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	ours = show(loadProject(t.Context(), "st", srcs, dir, env))
	plain := make([]types.ConfigFile, len(srcs))
	for i, s := range srcs {
		plain[i] = types.ConfigFile{Filename: s.path, Content: s.data}
	}
	p, err := loadCompose(t.Context(), "st", dir, env, plain, false)
	if err != nil {
		err = composeError(err, srcs)
	}
	return ours, show(p, err)
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestPreparedLoadMatchesCompose holds deckhand's interpolation of decoded
// models to compose-go's own: typed paths written as quoted strings or
// variables, "$$", defaults, anchors and merge keys, overrides, relative
// paths, extensions, and the errors of a bad cast or a bad template.
func TestPreparedLoadMatchesCompose(t *testing.T) {
	env := map[string]string{"REG": "r:5000", "N": "3", "CPU": "0.25", "RO": "true", "P": "8080", "B": "true",
		"EXT": "false", "BAD": "many", "MEM": "64M", "SECS": "10s", "TOK": "t0k"}
	cases := map[string]map[string]string{
		"typed paths": {"a.yml": `services:
  web:
    image: ${REG}/web:${TAG:-1.0}
    read_only: "${RO}"
    init: "true"
    deploy:
      replicas: "${N}"
      resources:
        limits: {cpus: "${CPU}", memory: "${MEM}"}
      update_config: {parallelism: "2", delay: "${SECS}"}
    healthcheck: {test: ["CMD", "true"], retries: "${N}", interval: "${SECS}"}
    ports: ["${P}:80", {target: 81, published: "${P}1"}]
    labels: {enabled: "${B}", n: "${N}"}
    environment: {N: "${N}", LIT: "$$HOME", DEF: "${UNSET-x}", EMPTY: "${UNSET:-}"}
    command: ["sh", "-c", "echo $${HOME} ${N}"]
    ulimits: {nofile: {soft: "${N}0", hard: 100}}
networks:
  front: {external: "${EXT}"}
x-extra: {n: "${N}", list: ["${B}", 1]}
`},
		"anchors and overrides": {"a.yml": `x-common: &common
  environment:
    LEVEL: ${LEVEL:-info}
  deploy: {replicas: "${N}"}
services:
  a: {<<: *common, image: "${REG}/a"}
  b:
    <<: *common
    image: b
    deploy: {replicas: 1}
`, "b.yml": `services:
  a:
    environment: {LEVEL: debug}
    ports: ["${P}:80"]
  c: {image: c, cpus: "${CPU}"}
`},
		"relative paths": {"a.yml": `services:
  a:
    image: a
    env_file: [./app.env]
    volumes: ["./data:/data", "named:/n", {type: bind, source: ../up, target: /up}, "~/home:/h"]
    configs: [conf]
    secrets: [tok, file]
    label_file: ./labels.env
  b:
    image: b
    env_file: [{path: sub/b.env, required: false}]
    build: ./ctx
volumes:
  named: {}
  local: {driver_opts: {type: none, o: bind, device: ./dev}}
configs: {conf: {file: ./conf.txt}}
secrets: {tok: {environment: TOK}, file: {file: ./conf.txt}}
`, "app.env": "FROM_FILE=${N}\n", "conf.txt": "hello\n", "labels.env": "lbl=1\n"},
		"bad cast":     {"a.yml": "services:\n  a:\n    image: a\n    deploy: {replicas: \"${BAD}\"}\n"},
		"bad template": {"a.yml": "services:\n  a:\n    image: \"a${\"\n"},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dir := writeFiles(t, files)
			var names []string
			t.Setenv("HOME", "/home/test")
			for _, f := range []string{"a.yml", "b.yml"} {
				if _, ok := files[f]; ok {
					names = append(names, f)
				}
			}
			ours, theirs := loadBoth(t, dir, names, env, 1)
			if ours != theirs {
				t.Errorf("deckhand's load differs from compose-go's\n--- deckhand\n%s\n--- compose-go\n%s", ours, theirs)
			}
			if strings.Contains(name, "bad") != strings.HasPrefix(ours, "error: ") {
				t.Errorf("got %.300s", ours)
			}
		})
	}
}

// TestPreparedLoadFallsBack lists the inputs compose-go must read itself.
func TestPreparedLoadFallsBack(t *testing.T) {
	cases := map[string]string{
		"include":    "include: [other.yml]\nservices:\n  a: {image: a}\n",
		"extends":    "services:\n  a: {image: a}\n  b: {extends: a}\n",
		"reset":      "services:\n  a:\n    image: a\n    ports: !reset []\n",
		"override":   "services:\n  a:\n    image: a\n    ports: !override [\"80:80\"]\n",
		"two docs":   "services:\n  a: {image: a}\n---\nservices:\n  b: {image: b}\n",
		"int keys":   "services:\n  a:\n    image: a\n    labels: {1: one}\n",
		"still fine": "services:\n  a: {image: a}\n",
	}
	for name, body := range cases {
		dir := writeFiles(t, map[string]string{"a.yml": body, "other.yml": "services:\n  o: {image: o}\n"})
		srcs, err := readSources(Options{Files: []string{"a.yml"}}, dir)
		if err != nil {
			t.Fatal(err)
		}
		_, ok, err := prepareModels(srcs, func(string) (string, bool) { return "", false })
		if err != nil || ok != (name == "still fine") {
			t.Errorf("%s: prepared=%v err=%v", name, ok, err)
		}
		if ours, theirs := loadBoth(t, dir, []string{"a.yml"}, nil, 1); ours != theirs {
			t.Errorf("%s: differs\n--- deckhand\n%s\n--- compose-go\n%s", name, ours, theirs)
		}
	}
}

// TestParallelLoadMatchesCompose loads stacks big enough to be split, with
// an override file, anchors, variables, services that refer to each other
// and every kind of top-level resource, in groups and in one piece: the
// projects must be identical.
func TestParallelLoadMatchesCompose(t *testing.T) {
	var base, over strings.Builder
	base.WriteString("x-common: &common\n  environment:\n    LEVEL: ${LEVEL:-info}\n  deploy:\n    replicas: 2\nservices:\n")
	for i := range 150 {
		fmt.Fprintf(&base, "  s%03d:\n    <<: *common\n    image: ${REG}/s%03d:1\n", i, i)
		switch i % 5 {
		case 0:
			fmt.Fprintf(&base, "    networks: [front]\n    configs: [conf]\n")
		case 1:
			fmt.Fprintf(&base, "    ports: [\"%d:80\"]\n    secrets: [tok]\n", 30000+i)
		case 2:
			fmt.Fprintf(&base, "    depends_on: [s%03d]\n    volumes: [\"data:/d\"]\n", (i+77)%150)
		case 3:
			fmt.Fprintf(&base, "    network_mode: service:s%03d\n    links: [\"s%03d:db\"]\n", (i+41)%150, (i+3)%150)
		case 4:
			fmt.Fprintf(&base, "    volumes_from: [\"service:s%03d:ro\"]\n    depends_on: {s%03d: {condition: service_started}}\n", (i+90)%150, (i+11)%150)
		}
	}
	base.WriteString("networks:\n  front:\n    driver: overlay\nconfigs:\n  conf:\n    content: hello\nsecrets:\n  tok:\n    environment: TOK\nvolumes:\n  data:\n")
	over.WriteString("services:\n")
	for i := 0; i < 150; i += 7 {
		fmt.Fprintf(&over, "  s%03d:\n    image: ${REG}/s%03d:2\n", i, i)
	}
	over.WriteString("  extra:\n    image: extra:1\n")
	dir := writeFiles(t, map[string]string{"a.yml": base.String(), "b.yml": over.String()})
	env := map[string]string{"REG": "r", "TOK": "t"}

	srcs, err := readSources(Options{Files: []string{"a.yml", "b.yml"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	models, ok, err := prepareModels(srcs, envLookup(env))
	if !ok || err != nil {
		t.Fatalf("prepared=%v err=%v", ok, err)
	}
	groups := serviceGroups(models, 4)
	if len(groups) != 4 {
		t.Fatalf("a 151-service stack split into %d groups, want 4", len(groups))
	}
	ours, theirs := loadBoth(t, dir, []string{"a.yml", "b.yml"}, env, 4)
	if ours != theirs {
		t.Errorf("parallel load differs from compose-go's single load\n--- deckhand\n%.3000s\n--- compose-go\n%.3000s", ours, theirs)
	}
	if !strings.Contains(ours, "image: r/s007:2") || !strings.Contains(ours, "LEVEL: info") {
		t.Errorf("override or anchor not applied:\n%.2000s", ours)
	}
}

// TestServiceGroupsKeepReferencesTogether checks every way a service names
// another keeps the two in one group, and that sizes stay balanced.
func TestServiceGroupsKeepReferencesTogether(t *testing.T) {
	svcs := map[string]any{}
	for i := range 200 {
		svcs[fmt.Sprintf("s%03d", i)] = map[string]any{"image": "x"}
	}
	refs := map[string]map[string]any{
		"s000": {"depends_on": []any{"s199"}},
		"s001": {"depends_on": map[string]any{"s198": map[string]any{}}},
		"s002": {"links": []any{"s197:alias"}},
		"s003": {"network_mode": "service:s196"},
		"s004": {"ipc": "service:s195"},
		"s005": {"volumes_from": []any{"service:s194:ro"}},
		"s006": {"volumes_from": []any{"s193"}},
		"s007": {"build": map[string]any{"additional_contexts": map[string]any{"b": "service:s192"}}},
		"s008": {"build": map[string]any{"additional_contexts": []any{"b=service:s191"}}},
	}
	for name, extra := range refs {
		for k, v := range extra {
			svcs[name].(map[string]any)[k] = v
		}
	}
	groups := serviceGroups([]map[string]any{{"services": svcs}}, 2)
	if len(groups) != 2 {
		t.Fatalf("got %d groups, want 2", len(groups))
	}
	for i := range 9 {
		a, b := fmt.Sprintf("s%03d", i), fmt.Sprintf("s%03d", 199-i)
		if groups[0][a] != groups[0][b] {
			t.Errorf("%s and %s, which refer to each other, are in different groups", a, b)
		}
	}
	if n0, n1 := len(groups[0]), len(groups[1]); n0+n1 != 200 || n0-n1 > 1 || n1-n0 > 1 {
		t.Errorf("groups of %d and %d services, want 100 each", n0, n1)
	}
	if g := serviceGroups([]map[string]any{{"services": svcs, "jobs": map[string]any{}}}, 2); g != nil {
		t.Errorf("a stack with jobs split into %d groups", len(g))
	}
	small := map[string]any{"a": map[string]any{}, "b": map[string]any{}}
	if g := serviceGroups([]map[string]any{{"services": small}}, 2); g != nil {
		t.Errorf("a 2-service stack split into %d groups", len(g))
	}
}

// TestMarshalProjectMatchesCompose encodes a large project in parallel
// chunks and in one piece: the bytes must be the same, whatever the service
// keys (numbers inside, dots, case) and values (long and multi-line
// strings, nested lists).
func TestMarshalProjectMatchesCompose(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: ignored\nservices:\n")
	names := []string{"s2", "s10", "s1", "a.b", "_x", "x-1", "10", "9", "s02", "S3"}
	for i := range 150 {
		name := fmt.Sprintf("svc%d", i)
		if i < len(names) {
			name = names[i]
		}
		fmt.Fprintf(&b, "  %q:\n    image: img%d\n    command: [\"sh\", \"-c\", %q]\n    environment:\n      LONG: %q\n    labels:\n      multi: |\n        line one\n          line two %d\n    ports: [\"%d:80\"]\n",
			name, i, strings.Repeat("echo long line; ", 12), strings.Repeat("v", 100+i), i, 20000+i)
	}
	b.WriteString("networks:\n  front: {}\nx-top: 1\n")
	dir := writeFiles(t, map[string]string{"a.yml": b.String()})
	st, err := Load(t.Context(), Options{Name: "m", Files: []string{"a.yml"}, WorkingDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	old := loadParallelism
	loadParallelism = 3
	defer func() { loadParallelism = old }()
	chunked, err := marshalProject(st.Project)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := st.Project.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	if string(chunked) != string(whole) {
		t.Errorf("chunked encoding differs\n--- chunked\n%.3000s\n--- whole\n%.3000s", chunked, whole)
	}
	if !strings.Contains(string(whole), "\n  s2:\n") {
		t.Fatalf("the test stack did not load as meant:\n%.1000s", whole)
	}
}

// TestPathKeysCoverComposeResolver probes compose-go's path resolver with
// every service key it knows, in the shapes paths take: resolvePaths must
// hand it every key under which it changes something.
func TestPathKeysCoverComposeResolver(t *testing.T) {
	probes := []func() any{
		func() any { return "./p" },
		func() any { return []any{"./p"} },
		func() any {
			return []any{map[string]any{"path": "./p", "type": "bind", "source": "./p", "target": "/t"}}
		},
		func() any {
			return map[string]any{"context": "./p", "file": "./p", "watch": []any{map[string]any{"path": "./p"}},
				"additional_contexts": map[string]any{"a": "./p"}}
		},
		func() any {
			return []any{map[string]any{"env_file": []any{map[string]any{"path": "./p"}}, "label_file": []any{"./p"},
				"volumes": []any{map[string]any{"type": "bind", "source": "./p", "target": "/t"}}}}
		},
	}
	known := map[string]bool{}
	for _, k := range pathKeys {
		known[k] = true
	}
	st := reflect.TypeOf(types.ServiceConfig{})
	var keys []string
	var collect func(reflect.Type)
	collect = func(st reflect.Type) {
		for i := range st.NumField() {
			f := st.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if f.Anonymous && tag == "" {
				collect(f.Type)
				continue
			}
			if tag != "" && tag != "-" && !strings.HasPrefix(tag, "#") {
				keys = append(keys, tag)
			}
		}
	}
	collect(st)
	if len(keys) < 50 {
		t.Fatalf("found only %d service keys by reflection: %v", len(keys), keys)
	}
	for _, key := range keys {
		for _, probe := range probes {
			model := map[string]any{"services": map[string]any{"s": map[string]any{key: probe()}}}
			err := paths.ResolveRelativePaths(model, "/base", nil)
			after := model["services"].(map[string]any)["s"].(map[string]any)[key]
			changed := err != nil || !reflect.DeepEqual(after, probe())
			if changed && !known[key] {
				t.Errorf("compose-go resolves paths under services.*.%s (%v): add %q to pathKeys", key, err, key)
				break
			}
		}
	}
}

// FuzzPreparedLoad holds deckhand's way of loading (models it decodes and
// interpolates, groups of services) to compose-go's own for any compose
// document: the same project, or the same error.
func FuzzPreparedLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../cmd/deckhand/testdata/render/*/*.yml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(string(data))
		}
	}
	f.Add("services:\n  a:\n    image: ${REG}/a\n    deploy: {replicas: \"${N}\"}\n    ports: [\"${N}0:80\"]\n")
	f.Add("x-a: &a {image: a, cpus: \"0.5\"}\nservices:\n  a: *a\n  b: {<<: *a, read_only: 'true'}\n")
	f.Add("services:\n  a: {image: a, labels: [\"a=$$B\", \"n=${N:-1}\"], environment: [X=${REG:?need}]}\n")
	// inputs the fuzzer found: trailing junk after the document, an anchor
	// inside itself, several errors at once
	f.Add("{}0")
	f.Add("x-a: &a {<<: *a, read_only: 'true'}\nservices: {}\n")
	f.Add("services:\n 0X:\n e: ")
	f.Add("services:\n  a:\n    image: a${\n    deploy: {replicas: \"${BAD}\"}\n")
	logrus.SetOutput(io.Discard)
	env := map[string]string{"REG": "r", "N": "3", "APP_TAG": "1.2", "REGISTRY": "reg:5000", "DB_PASSWORD": "pw"}
	f.Fuzz(func(t *testing.T, doc string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "a.yml"), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readSources(Options{Files: []string{"a.yml"}}, dir); err != nil {
			return // deckhand stops at the YAML syntax before either load
		}
		ours, theirs := loadBoth(t, dir, []string{"a.yml"}, env, 1)
		if ours == theirs {
			return
		}
		// With several errors, compose-go reports the first it meets, in map
		// order, on either way: the two must be able to agree.
		if strings.HasPrefix(ours, "error: ") && strings.HasPrefix(theirs, "error: ") {
			seenOurs, seenTheirs := map[string]bool{}, map[string]bool{}
			for range 40 {
				seenOurs[errorWords(ours)], seenTheirs[errorWords(theirs)] = true, true
				for e := range seenOurs {
					if seenTheirs[e] {
						return
					}
				}
				ours, theirs = loadBoth(t, dir, []string{"a.yml"}, env, 1)
			}
		}
		t.Errorf("deckhand's load differs from compose-go's\n--- deckhand\n%s\n--- compose-go\n%s", ours, theirs)
	})
}

// errorWords returns the words of an error, sorted: compose-go lists the
// keys of a mapping in an error in the order it met them, which varies.
func errorWords(s string) string {
	if !strings.HasPrefix(s, "error: ") {
		return s
	}
	words := strings.Fields(strings.NewReplacer(",", " ", "'", " ").Replace(s))
	slices.Sort(words)
	return strings.Join(words, " ")
}
