package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// listedPackage is the part of `go list -json` the file test reads.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Export     string
	ImportMap  map[string]string
	DepOnly    bool
}

// TestFilesUseEachOtherOneWay keeps the files of every non-test package of
// the module (cmd/deckhand included) from using each other in a loop, so a
// reader can take a package's files in an order where each one only needs
// the ones before it.
//
// The graph: file A → file B of the same package when an identifier in A
// denotes something declared in B: a function, type, variable or constant
// declared at package level, a method, or a field. Identifiers are resolved
// with go/types, so a method call x.m() or a field read x.f points at the
// file that declares m or f, wherever x's type comes from. The rules:
//
//   - a method's use of its receiver type declared in another file is an
//     edge like any other (a method belongs with what it needs);
//   - a file using something declared in itself is no edge;
//   - only what is written counts: a type satisfying an interface declared
//     elsewhere, or a field reached through an embedded field, adds no
//     edge for the part not written;
//   - _test.go files and generated files (ast.IsGenerated) are not nodes,
//     though generated files are type-checked with their package; files
//     left out by build constraints for this GOOS/GOARCH are not seen;
//   - a file without declarations (doc.go) has no edges.
//
// A loop is reported once per strongly connected set of files, as the
// shortest loops through each of its edges, each edge with one identifier
// that makes it: moving the declarations of one edge out of the loop's way
// (into a lower file or a new file with a one-job name) breaks that loop.
func TestFilesUseEachOtherOneWay(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := listPackages(t, root)

	exports := map[string]string{}
	for _, p := range pkgs {
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	gc := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file := exports[path]
		if file == "" {
			return nil, fmt.Errorf("go list -export gave no export data for %s", path)
		}
		return os.Open(file)
	})

	checked := 0
	for _, p := range pkgs {
		if p.DepOnly || !strings.HasPrefix(p.ImportPath+"/", module) || len(p.GoFiles) == 0 {
			continue
		}
		if len(p.CgoFiles) > 0 {
			t.Errorf("%s has cgo files %v, which this test cannot type-check: teach it to", p.ImportPath, p.CgoFiles)
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		g, err := fileGraph(fset, gc, p)
		if err != nil {
			t.Errorf("%s: %v", p.ImportPath, err)
			continue
		}
		checked++
		for _, msg := range g.loops(filepath.ToSlash(rel)) {
			t.Error(msg)
		}
	}
	if checked == 0 {
		t.Fatal("no package of the module was checked")
	}
}

// listPackages runs `go list -deps -export` over the module: every package
// with the compiler's export data of its build, which type-checking the
// module's packages imports.
func listPackages(t *testing.T, root string) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-export",
		"-json=ImportPath,Dir,GoFiles,CgoFiles,Export,ImportMap,DepOnly", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// importerFunc adapts a function to types.Importer.
type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// usesGraph is one package's file graph: edges[a][b] holds the names file a
// uses from file b, by base name.
type usesGraph struct {
	edges map[string]map[string]map[string]bool
}

// fileGraph type-checks one package and returns its file graph.
func fileGraph(fset *token.FileSet, gc types.Importer, p listedPackage) (*usesGraph, error) {
	var files []*ast.File
	nodes := map[string]bool{}
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		if !ast.IsGenerated(f) {
			nodes[name] = true
		}
	}
	var firstErr error
	conf := types.Config{
		Importer: importerFunc(func(path string) (*types.Package, error) {
			if mapped, ok := p.ImportMap[path]; ok {
				path = mapped
			}
			return gc.Import(path)
		}),
		Error: func(err error) {
			if firstErr == nil {
				firstErr = err
			}
		},
	}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	pkg, _ := conf.Check(p.ImportPath, fset, files, info)
	if firstErr != nil {
		return nil, fmt.Errorf("type-checking: %w", firstErr)
	}

	owners := fieldOwners(fset, files)
	g := &usesGraph{edges: map[string]map[string]map[string]bool{}}
	for id, obj := range info.Uses {
		if obj.Pkg() != pkg || !obj.Pos().IsValid() {
			continue
		}
		from := filepath.Base(fset.Position(id.Pos()).Filename)
		to := filepath.Base(fset.Position(obj.Pos()).Filename)
		if from == to || !nodes[from] || !nodes[to] {
			continue
		}
		if g.edges[from] == nil {
			g.edges[from] = map[string]map[string]bool{}
		}
		if g.edges[from][to] == nil {
			g.edges[from][to] = map[string]bool{}
		}
		g.edges[from][to][describe(obj, owners)] = true
	}
	return g, nil
}

// fieldOwners maps the position of every field declared in a package-level
// type to the type's name, so a field can be named T.f.
func fieldOwners(fset *token.FileSet, files []*ast.File) map[token.Pos]string {
	owners := map[token.Pos]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.TYPE {
				continue
			}
			for _, spec := range gen.Specs {
				ts := spec.(*ast.TypeSpec)
				ast.Inspect(ts.Type, func(n ast.Node) bool {
					field, ok := n.(*ast.Field)
					if !ok {
						return true
					}
					for _, name := range field.Names {
						owners[name.Pos()] = ts.Name.Name
					}
					if len(field.Names) == 0 {
						// An embedded field is declared at its type's name.
						typ := field.Type
						if star, ok := typ.(*ast.StarExpr); ok {
							typ = star.X
						}
						if sel, ok := typ.(*ast.SelectorExpr); ok {
							typ = sel.Sel
						}
						owners[typ.Pos()] = ts.Name.Name
					}
					return true
				})
			}
		}
	}
	return owners
}

// describe names a used object the way its declaration reads: f, T, T.m, T.f.
func describe(obj types.Object, owners map[token.Pos]string) string {
	switch obj := obj.(type) {
	case *types.Func:
		if recv := obj.Signature().Recv(); recv != nil {
			t := recv.Type()
			if ptr, ok := t.(*types.Pointer); ok {
				t = ptr.Elem()
			}
			if named, ok := t.(*types.Named); ok {
				return named.Obj().Name() + "." + obj.Name()
			}
			if owner, ok := owners[obj.Pos()]; ok {
				return owner + "." + obj.Name() // an interface's method
			}
		}
	case *types.Var:
		if obj.IsField() {
			if owner, ok := owners[obj.Pos()]; ok {
				return owner + "." + obj.Name()
			}
			return "field " + obj.Name()
		}
	}
	return obj.Name()
}

// loops returns one message per set of files that use each other in a loop.
func (g *usesGraph) loops(dir string) []string {
	var msgs []string
	for _, scc := range g.components() {
		in := map[string]bool{}
		for _, f := range scc {
			in[f] = true
		}
		seen := map[string]bool{}
		var cycles []string
		for _, from := range scc {
			for _, to := range slices.Sorted(maps.Keys(g.edges[from])) {
				if !in[to] {
					continue
				}
				path := g.shortestPath(to, from, in)
				cycle := g.render(rotate(append([]string{from}, path...)))
				if !seen[cycle] {
					seen[cycle] = true
					cycles = append(cycles, cycle)
				}
			}
		}
		slices.SortFunc(cycles, func(a, b string) int {
			if n := strings.Count(a, "→") - strings.Count(b, "→"); n != 0 {
				return n
			}
			return strings.Compare(a, b)
		})
		var uses []string
		for _, from := range scc {
			for _, to := range slices.Sorted(maps.Keys(g.edges[from])) {
				if in[to] {
					names := slices.Sorted(maps.Keys(g.edges[from][to]))
					uses = append(uses, fmt.Sprintf("%s → %s: %s", from, to, strings.Join(names, ", ")))
				}
			}
		}
		msgs = append(msgs, fmt.Sprintf(
			"files of %s use each other in a loop (%d files: %s); move declarations so that they use each other one way.\n"+
				"loops, one identifier an edge:\n\t%s\nevery use inside the loop:\n\t%s",
			dir, len(scc), strings.Join(scc, ", "), strings.Join(cycles, "\n\t"), strings.Join(uses, "\n\t")))
	}
	return msgs
}

// components returns the graph's strongly connected sets of two files or
// more (Tarjan), each sorted, the sets sorted by their first file.
func (g *usesGraph) components() [][]string {
	var nodes []string
	for from, tos := range g.edges {
		nodes = append(nodes, from)
		for to := range tos {
			nodes = append(nodes, to)
		}
	}
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)

	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	var visit func(v string)
	visit = func(v string) {
		index[v] = len(index)
		low[v] = index[v]
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range slices.Sorted(maps.Keys(g.edges[v])) {
			if _, ok := index[w]; !ok {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] != index[v] {
			return
		}
		var scc []string
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			scc = append(scc, w)
			if w == v {
				break
			}
		}
		if len(scc) > 1 {
			slices.Sort(scc)
			out = append(out, scc)
		}
	}
	for _, v := range nodes {
		if _, ok := index[v]; !ok {
			visit(v)
		}
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// shortestPath returns the files from start to goal (both included) along
// the fewest edges, staying inside in; start and goal are in one component,
// so a path exists.
func (g *usesGraph) shortestPath(start, goal string, in map[string]bool) []string {
	prev := map[string]string{start: ""}
	queue := []string{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		if v == goal {
			break
		}
		for _, w := range slices.Sorted(maps.Keys(g.edges[v])) {
			if _, ok := prev[w]; !ok && in[w] {
				prev[w] = v
				queue = append(queue, w)
			}
		}
	}
	var path []string
	for v := goal; v != ""; v = prev[v] {
		path = append(path, v)
	}
	slices.Reverse(path)
	return path
}

// rotate turns a loop a → … → a so that it starts at its smallest file.
func rotate(loop []string) []string {
	open := loop[:len(loop)-1]
	i := slices.Index(open, slices.Min(open))
	rotated := append(slices.Clone(open[i:]), open[:i]...)
	return append(rotated, rotated[0])
}

// render writes a loop with one identifier per edge (the first by name, and
// how many more the edge has): a.go -(f)→ b.go -(T.m +2)→ a.go.
func (g *usesGraph) render(loop []string) string {
	var b strings.Builder
	b.WriteString(loop[0])
	for i := 1; i < len(loop); i++ {
		names := slices.Sorted(maps.Keys(g.edges[loop[i-1]][loop[i]]))
		example := names[0]
		if len(names) > 1 {
			example += fmt.Sprintf(" +%d", len(names)-1)
		}
		fmt.Fprintf(&b, " -(%s)→ %s", example, loop[i])
	}
	return b.String()
}
