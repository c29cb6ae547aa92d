package compose

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Labels deckhand puts on the configs and secrets it names by content hash.
const (
	LabelStack = "deckhand.stack" // the stack the object belongs to
	LabelKey   = "deckhand.key"   // the object's key in the compose file
	LabelHash  = "deckhand.hash"  // sha256 of the object's content, hex
)

// hashLen is how many hex digits of the content hash go into a name.
const hashLen = 10

// Options are the inputs of Load.
type Options struct {
	Name         string            // stack name
	Files        []string          // compose files in merge order; "-" reads Stdin
	Stdin        io.Reader         // read for the file "-"
	EnvFiles     []string          // env files; when empty, .env next to the first file if present
	Environ      map[string]string // the process environment; wins over env files
	WorkingDir   string            // where "-" and relative paths resolve; defaults to the current directory
	AllowMissing bool              // substitute unset variables with "" (docker's behaviour) and warn
	StrictSwarm  bool              // treat swarm-incompatible keys as errors
}

// ServiceName is the swarm name of a service of the stack (STACK_service).
func (s *Stack) ServiceName(key string) string { return s.Name + "_" + key }

// MissingVarsError lists every variable that is unset and has no default.
type MissingVarsError struct{ Vars []MissingVar }

func (e *MissingVarsError) Error() string {
	return listError(fmt.Sprintf("%d variable reference(s) cannot be substituted; set them in the environment or an --env-file, give them a default (${VAR:-default}), or pass --allow-missing:", len(e.Vars)), e.Vars)
}

// SwarmKeysError lists the swarm-incompatible keys found under --strict-swarm.
type SwarmKeysError struct{ Warnings []Warning }

func (e *SwarmKeysError) Error() string {
	return listError(fmt.Sprintf("%d key(s) are not supported by swarm (drop --strict-swarm to deploy without them):", len(e.Warnings)), e.Warnings)
}

// listError is a header followed by one indented line per item.
func listError[T fmt.Stringer](header string, items []T) string {
	var b strings.Builder
	b.WriteString(header)
	for _, it := range items {
		b.WriteString("\n  ")
		b.WriteString(it.String())
	}
	return b.String()
}

// stackNameRE is what swarm accepts as the first part of a service name.
var stackNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*$`)

// ValidateName checks a stack name is one swarm can prefix its objects with.
func ValidateName(name string) error {
	if !stackNameRE.MatchString(name) {
		return fmt.Errorf("invalid stack name %q: use letters, digits, '-' and '_', starting and ending with a letter or digit", name)
	}
	if len(name) > 50 {
		return fmt.Errorf("invalid stack name %q: at most 50 characters, so that service names stay within swarm's 63", name)
	}
	return nil
}

// Load reads, merges and interpolates the compose files of o into a stack.
// Every unset variable without a default is reported in one error
// (*MissingVarsError) unless o.AllowMissing is set.
func Load(ctx context.Context, o Options) (*Stack, error) {
	if err := ValidateName(o.Name); err != nil {
		return nil, err
	}
	if len(o.Files) == 0 {
		return nil, errors.New("no compose file given: pass -c FILE (or -c - for standard input)")
	}
	wd := o.WorkingDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("find the working directory: %w", err)
		}
	}
	srcs, err := readSources(o, wd)
	if err != nil {
		return nil, err
	}
	// compose resolves relative paths against the first file's directory.
	projectDir := wd
	if srcs[0].display != "stdin" {
		projectDir = filepath.Dir(srcs[0].path)
	}
	env, err := environment(o, projectDir)
	if err != nil {
		return nil, err
	}
	lookup := envLookup(env)

	order := map[string]int{}
	var warnings []Warning
	var missing []MissingVar
	for i, s := range srcs {
		order[s.display] = i
		ms, err := findMissing(s.display, s.data, s.root, lookup)
		if err != nil {
			return nil, err
		}
		missing = append(missing, ms...)
		warnings = append(warnings, swarmCheck(s.display, s.root)...)
	}
	var required []MissingVar
	for _, m := range missing {
		if m.Required {
			required = append(required, m)
		}
	}
	switch {
	case len(required) > 0 && o.AllowMissing:
		return nil, &MissingVarsError{Vars: required}
	case len(missing) > 0 && !o.AllowMissing:
		return nil, &MissingVarsError{Vars: missing}
	}
	sortWarnings(warnings, order)
	if o.StrictSwarm && slices.ContainsFunc(warnings, func(w Warning) bool { return w.Key != "depends_on" }) {
		return nil, &SwarmKeysError{Warnings: slices.DeleteFunc(slices.Clone(warnings), func(w Warning) bool { return w.Key == "depends_on" })}
	}
	for _, m := range missing {
		warnings = append(warnings, Warning{Position: m.Position, Key: m.Name,
			Message: fmt.Sprintf("variable %s is not set: substituting an empty string", m.Name)})
	}

	project, err := loadProject(ctx, o.Name, srcs, projectDir, env)
	if err != nil {
		return nil, err
	}
	st := &Stack{Name: o.Name, Project: project, Warnings: warnings, FilesDigest: filesDigest(srcs)}
	roots := make([]*yaml.Node, len(srcs))
	for i, s := range srcs {
		roots[i] = s.root
	}
	if err := st.nameResources(explicitNames(roots), env); err != nil {
		return nil, err
	}
	if err := st.takeDependencies(srcs); err != nil {
		return nil, err
	}
	return st, nil
}

// filesDigest is the sha256 of the files' contents, each preceded by its
// length, so that moving bytes from one file to the next changes it.
func filesDigest(srcs []source) string {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "%d\n", len(s.data))
		h.Write(s.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// readSources reads and parses every compose file, so syntax errors carry the
// file name and line before compose-go sees anything.
func readSources(o Options, wd string) ([]source, error) {
	srcs := make([]source, 0, len(o.Files))
	stdinUsed := false
	for _, f := range o.Files {
		s := source{display: f}
		var err error
		if f == "-" {
			if stdinUsed {
				return nil, errors.New("-c - is given twice: standard input can be read only once")
			}
			stdinUsed = true
			if o.Stdin == nil {
				return nil, errors.New("-c - reads standard input, but none is attached")
			}
			s.display, s.path = "stdin", filepath.Join(wd, "stdin")
			if s.data, err = io.ReadAll(o.Stdin); err != nil {
				return nil, fmt.Errorf("read compose file from standard input: %w", err)
			}
		} else {
			s.path = f
			if !filepath.IsAbs(f) {
				s.path = filepath.Join(wd, f)
			}
			if s.data, err = os.ReadFile(s.path); err != nil {
				return nil, fmt.Errorf("read compose file %q: %w; check the -c path", f, unwrapPathError(err))
			}
		}
		var doc yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(s.data))
		if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
			return nil, syntaxError(s.display, s.data, err)
		}
		// compose-go reads every document of the stream: check the rest too.
		for {
			var next yaml.Node
			err := dec.Decode(&next)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, syntaxError(s.display, s.data, err)
			}
		}
		if documentMapping(&doc) == nil {
			return nil, fmt.Errorf("%s: not a compose file: the top level must be a mapping with services:", s.display)
		}
		// An alias inside the node its anchor names makes compose-go walk
		// the document until its node budget runs out: refuse it here.
		if err := aliasCycle(s.display, &doc); err != nil {
			return nil, err
		}
		s.root = &doc
		srcs = append(srcs, s)
	}
	return srcs, nil
}

// yamlLineRE finds the innermost line a YAML parser error names, and the
// message after it ("yaml: while parsing ... at line 1, column 3: line 3,
// column 4: did not find expected key").
var yamlLineRE = regexp.MustCompile(`^yaml: .*?line (\d+)(?:, column \d+)?: ([^:]*)$`)

// syntaxError names the line of a YAML syntax error. The parser names the
// line where the enclosing block starts, often far above the mistake, or no
// line at all, so the first line at which the stream stops parsing is found
// by parsing ever longer prefixes of whole lines (only on this error path,
// and only for files of up to 3000 lines).
func syntaxError(file string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := ""
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, msg = m[1], m[2]
	} else if i := strings.LastIndex(msg, "<unknown position>: "); i >= 0 {
		msg = msg[i+len("<unknown position>: "):]
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 3000 {
		lines = nil // quadratic: keep the parser's line for huge files
	}
	var prefix strings.Builder
	for i, l := range lines {
		prefix.WriteString(l)
		if !parses(prefix.String()) {
			line = strconv.Itoa(i + 1)
			break
		}
	}
	if line == "" {
		return fmt.Errorf("%s: %s", file, msg)
	}
	return fmt.Errorf("%s:%s: %s (check the indentation and quoting on this line and the one above)", file, line, msg)
}

// parses reports whether every document of a YAML stream parses.
func parses(s string) bool {
	dec := yaml.NewDecoder(strings.NewReader(s))
	for {
		var n yaml.Node
		switch err := dec.Decode(&n); {
		case errors.Is(err, io.EOF):
			return true
		case err != nil:
			return false
		}
	}
}

// aliasCycle refuses an alias that sits inside the node its anchor names
// (YAML lets an alias follow only a defined anchor, so this is the only way
// a document can contain itself). The error names the anchor's line.
func aliasCycle(file string, doc *yaml.Node) error {
	var open []*yaml.Node // the nodes from the root down to the one visited
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		if n.Kind == yaml.AliasNode {
			if a := n.Alias; a != nil && slices.Contains(open, a) {
				return fmt.Errorf("%s:%d:%d: anchor '%s' value contains itself: an alias *%s cannot sit inside the node &%s names", file, a.Line, a.Column, a.Anchor, a.Anchor, a.Anchor)
			}
			return nil
		}
		open = append(open, n)
		defer func() { open = open[:len(open)-1] }()
		for _, c := range n.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(doc)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// environment merges the env files and the process environment, the
// process environment winning, as compose does.
func environment(o Options, projectDir string) (map[string]string, error) {
	files := o.EnvFiles
	if len(files) == 0 {
		def := filepath.Join(projectDir, ".env")
		if fi, err := os.Stat(def); err == nil && !fi.IsDir() {
			files = []string{def}
		}
	}
	env := map[string]string{}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("env file %q: %w; check the --env-file path", f, unwrapPathError(err))
		}
		vals, err := dotenv.GetEnvFromFile(mergeEnv(env, o.Environ), []string{f})
		if err != nil {
			return nil, fmt.Errorf("env file %q: %w", f, err)
		}
		maps.Copy(env, vals)
	}
	return mergeEnv(env, o.Environ), nil
}

func mergeEnv(files, process map[string]string) map[string]string {
	out := make(map[string]string, len(files)+len(process))
	maps.Copy(out, files)
	maps.Copy(out, process)
	return out
}

// loadProject runs compose-go's own loading, interpolation, merging, path
// resolution and conversion over the files, with the given environment.
func loadProject(ctx context.Context, name string, srcs []source, dir string, env map[string]string) (*types.Project, error) {
	// compose-go writes COMPOSE_PROJECT_NAME into the environment map.
	details := types.ConfigDetails{WorkingDir: dir, Environment: maps.Clone(env)}
	for _, s := range srcs {
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: s.path, Content: s.data})
	}
	opts := []func(*loader.Options){
		func(lo *loader.Options) {
			lo.SetProjectName(loader.NormalizeProjectName(name), true)
			// Missing variables were reported with their positions already.
			lo.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
				return template.SubstituteWithOptions(s, m, template.WithoutLogging)
			}
		},
	}
	model, err := loader.LoadModelWithContext(ctx, details, opts...)
	if err != nil {
		return nil, composeError(err, srcs)
	}
	stripSwarmKeys(model)
	project, err := loader.ModelToProject(model, loader.ToOptions(&details, opts), details)
	if err != nil {
		if c := cycleError(err, srcs); c != nil {
			return nil, c
		}
		if d := undefinedDependency(err, srcs); d != nil {
			return nil, d
		}
		return nil, composeError(err, srcs)
	}
	project.Name = name
	return project, nil
}

// schemaErrRE matches compose-go's schema and interpolation errors, which
// name a YAML path but no line.
var (
	schemaErrRE = regexp.MustCompile(`^validating (.+?): ([A-Za-z0-9_.\-]+) (.*)$`)
	extraKeyRE  = regexp.MustCompile(`^additional propert(?:y|ies) '([^']+)'.* not allowed$`)
	interpErrRE = regexp.MustCompile(`^error while interpolating ([A-Za-z0-9_.\-]+): (.*)$`)
	undefRE     = regexp.MustCompile(`^service "([^"]+)" refers to undefined (config|secret|network|volume) ([^:]+): invalid compose project$`)
)

// composeError makes compose-go's errors name the files as the user gave
// them and, where compose-go names a YAML path, the line and column.
func composeError(err error, srcs []source) error {
	msg := err.Error()
	for _, s := range srcs {
		msg = strings.ReplaceAll(msg, s.path, s.display)
	}
	if m := schemaErrRE.FindStringSubmatch(msg); m != nil {
		file, path, what := m[1], m[2], m[3]
		if what == "false schema" {
			// the last path element is a key the schema does not know
			i := strings.LastIndex(path, ".")
			key := path[i+1:]
			msg = locatePath(srcs, file, path) + path[:max(i, 0)] + ": " + unknownKey(key)
		} else if k := extraKeyRE.FindStringSubmatch(what); k != nil {
			msg = locatePath(srcs, file, path+"."+k[1]) + path + ": " + unknownKey(k[1])
		} else {
			msg = locatePath(srcs, file, path) + path + ": " + what
		}
	} else if m := interpErrRE.FindStringSubmatch(msg); m != nil {
		msg = locatePath(srcs, "", m[1]) + m[1] + ": " + m[2]
	} else if m := undefRE.FindStringSubmatch(msg); m != nil {
		svc, kind, name := m[1], m[2], m[3]
		msg = fmt.Sprintf("%sservice %q uses %s %q, which is not declared: add it under the top-level %ss: key", locatePath(srcs, "", "services."+svc+"."+kind+"s"), svc, kind, name, kind)
	}
	return &loadError{msg: "invalid compose file: " + msg, err: err}
}

func unknownKey(k string) string {
	return fmt.Sprintf("unknown key %q: it is not in the compose specification (check its spelling and indentation)", k)
}

// locatePath returns "FILE:LINE:COL: " for a dotted YAML path, looking in the
// named file or, when file is empty, in the last file that has the path
// (later files override earlier ones). It returns "FILE: " or "" when the path
// is not found.
func locatePath(srcs []source, file, path string) string {
	for i := len(srcs) - 1; i >= 0; i-- {
		s := srcs[i]
		if file != "" && s.display != file {
			continue
		}
		if n := nodeAt(documentMapping(s.root), strings.Split(path, ".")); n != nil {
			return fmt.Sprintf("%s:%d:%d: ", s.display, n.Line, n.Column)
		}
		if file != "" {
			return file + ": "
		}
	}
	return ""
}

// loadError is an error whose text was rewritten but which still unwraps.
type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.err }

// nameResources gives every stack-owned resource its swarm name: STACK_key
// for networks and volumes (as docker stack deploy does), and
// STACK_key_<hash> for configs and secrets with content, so that a change of
// content makes a new object instead of a refused update. Names the user
// wrote are kept as written.
func (s *Stack) nameResources(explicit map[string]bool, env map[string]string) error {
	p := s.Project
	for key, n := range p.Networks {
		if !bool(n.External) && !explicit["networks/"+key] {
			n.Name = s.Name + "_" + key
			p.Networks[key] = n
		}
	}
	for key, v := range p.Volumes {
		if !bool(v.External) && !explicit["volumes/"+key] {
			v.Name = s.Name + "_" + key
			p.Volumes[key] = v
		}
	}
	s.Configs, s.Secrets = map[string]Object{}, map[string]Object{}
	for key, c := range p.Configs {
		obj, err := s.object("config", key, types.FileObjectConfig(c), explicit["configs/"+key], env)
		if err != nil {
			return err
		}
		c.Name, c.Labels = obj.Name, obj.Labels
		p.Configs[key] = c
		s.Configs[key] = obj
	}
	for key, c := range p.Secrets {
		obj, err := s.object("secret", key, types.FileObjectConfig(c), explicit["secrets/"+key], env)
		if err != nil {
			return err
		}
		c.Name, c.Labels = obj.Name, obj.Labels
		p.Secrets[key] = c
		s.Secrets[key] = obj
	}
	return nil
}

// object reads a config's or secret's content and names it.
func (s *Stack) object(kind, key string, c types.FileObjectConfig, explicit bool, env map[string]string) (Object, error) {
	obj := Object{Key: key, Name: c.Name, External: bool(c.External), Labels: map[string]string{}}
	maps.Copy(obj.Labels, c.Labels)
	if obj.External {
		return obj, nil
	}
	switch {
	case c.File != "":
		data, err := os.ReadFile(c.File)
		if err != nil {
			return obj, fmt.Errorf("%s %q: read %s: %w; check its file: path (relative to the first compose file)", kind, key, c.File, unwrapPathError(err))
		}
		obj.Data = data
	case c.Environment != "":
		v, ok := env[c.Environment]
		if !ok {
			return obj, fmt.Errorf("%s %q: its content comes from variable %s, which is not set; set it or use file:", kind, key, c.Environment)
		}
		obj.Data = []byte(v)
	case c.Content != "":
		obj.Data = []byte(c.Content)
	case c.Driver != "":
		// a driver-provided secret has no content here; swarm asks the driver.
		if !explicit {
			obj.Name = s.Name + "_" + key
		}
		return obj, nil
	default:
		return obj, fmt.Errorf("%s %q has no content: give it file:, content:, environment: or external: true", kind, key)
	}
	if kind == "secret" {
		obj.Hash = SecretDigest(s.Name, key, obj.Data)
	} else {
		sum := sha256.Sum256(obj.Data)
		obj.Hash = hex.EncodeToString(sum[:])
	}
	if !explicit {
		obj.Name = fmt.Sprintf("%s_%s_%s", s.Name, key, obj.Hash[:hashLen])
	}
	obj.Labels[LabelStack] = s.Name
	obj.Labels[LabelKey] = key
	obj.Labels[LabelHash] = obj.Hash
	if kind == "secret" {
		obj.Labels[LabelHash] = SecretDigestScheme + ":" + obj.Hash
	}
	return obj, nil
}

// ServiceKeys lists the stack's service keys, sorted.
func (s *Stack) ServiceKeys() []string {
	keys := slices.Collect(maps.Keys(s.Project.Services))
	sort.Strings(keys)
	return keys
}

// Images maps each image the stack's services run to the swarm names of
// those services, so registry lookups can start before conversion.
func (s *Stack) Images() map[string][]string {
	out := map[string][]string{}
	for _, key := range s.ServiceKeys() {
		image := s.Project.Services[key].Image
		out[image] = append(out[image], s.ServiceName(key))
	}
	return out
}
