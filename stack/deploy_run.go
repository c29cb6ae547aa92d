package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/client"
	"go.yaml.in/yaml/v4"

	"github.com/deckhand/deckhand/internal/engine"
	"github.com/deckhand/deckhand/internal/exit"
)

// PlanRun are the inputs of RunPlan besides the stack.
type PlanRun struct {
	Deploy           DeployOptions
	Format           string // text or json
	DetailedExitCode bool   // exit 2 when the plan has changes
	DockerConfig     string // docker config dir for registry credentials; "" = default
}

// DeployRun are the inputs of RunDeploy besides the stack.
type DeployRun struct {
	Deploy       DeployOptions
	Format       string // text or json
	DockerConfig string
}

func checkFormat(f string) error {
	if f != "text" && f != "json" {
		return fmt.Errorf("unknown --format %q: use text or json", f)
	}
	return nil
}

func checkResolve(mode string) error {
	switch mode {
	case ResolveAlways, ResolveChanged, ResolveNever:
		return nil
	}
	return fmt.Errorf("unknown --resolve-image %q: use always, changed or never", mode)
}

// connectForDeploy is the edge shared by plan and deploy: it reads the
// registry credentials, connects to the engine and returns the source that
// loads the stack (run by PrepareFrom while the engine is being read). When
// the engine cannot be reached, problems in the files are reported first.
func connectForDeploy(ctx context.Context, lo Options, dockerConfig string, d *DeployOptions, errw io.Writer) (Source, *client.Client, error) {
	if err := checkResolve(d.ResolveImage); err != nil {
		return nil, nil, err
	}
	if err := ValidateName(lo.Name); err != nil {
		return nil, nil, err
	}
	auth, err := LoadRegistryAuth(dockerConfig)
	if err != nil {
		return nil, nil, err
	}
	d.Auth = auth.Encode
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	d.PrefetchImages = imageHints(lo)
	source := func() (ConvertInput, error) {
		st, err := Load(ctx, lo)
		if err != nil {
			return ConvertInput{}, err
		}
		for _, w := range st.Warnings {
			fmt.Fprintf(errw, "warning: %s\n", w)
		}
		return ConvertInputFor(st)
	}
	c, err := engine.Connect(ctx)
	if err != nil {
		if _, lerr := source(); lerr != nil {
			return nil, nil, lerr
		}
		return nil, nil, err
	}
	return source, c, nil
}

// RunPlan loads the stack, checks it against the swarm and prints what a
// deploy would write, without writing anything.
func RunPlan(ctx context.Context, lo Options, r PlanRun, out, errw io.Writer) error {
	if err := checkFormat(r.Format); err != nil {
		return err
	}
	source, c, err := connectForDeploy(ctx, lo, r.DockerConfig, &r.Deploy, errw)
	if err != nil {
		return err
	}
	defer c.Close()
	prep, err := PrepareFrom(ctx, c, lo.Name, source, r.Deploy)
	if err != nil {
		return err
	}
	if r.Format == "json" {
		err = WriteJSON(out, prep.Plan)
	} else {
		err = WritePlan(out, prep.Plan)
	}
	if err != nil {
		return err
	}
	if r.DetailedExitCode && prep.Plan.HasChanges() {
		return exit.With(exit.Changes, nil)
	}
	return nil
}

// RunDeploy loads, checks, applies and waits for the stack, printing
// progress (to errw with --format json, where out gets the result).
func RunDeploy(ctx context.Context, lo Options, r DeployRun, out, errw io.Writer) error {
	if err := checkFormat(r.Format); err != nil {
		return err
	}
	source, c, err := connectForDeploy(ctx, lo, r.DockerConfig, &r.Deploy, errw)
	if err != nil {
		return err
	}
	defer c.Close()
	r.Deploy.Out = out
	if r.Format == "json" {
		r.Deploy.Out = errw
	}
	res, err := DeployFrom(ctx, c, lo.Name, source, r.Deploy)
	if r.Format == "json" {
		if jerr := WriteJSON(out, res); jerr != nil && err == nil {
			err = jerr
		}
	} else if err == nil {
		fmt.Fprintf(out, "Stack %s: %s (%s)\n", res.Stack, res.Outcome, summarize(res))
	}
	return err
}

// summarize counts a result's services by action, e.g. "1 created, 2 unchanged".
func summarize(res *Result) string {
	counts := map[string]int{}
	for _, s := range res.Services {
		counts[s.Action]++
	}
	var parts []string
	for _, a := range []struct{ action, word string }{{ActionCreate, "created"}, {ActionUpdate, "updated"}, {ActionRemove, "removed"}, {"rollback", "rolled back"}, {"unchanged", "unchanged"}} {
		if n := counts[a.action]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a.word))
		}
	}
	if len(parts) == 0 {
		return "no services"
	}
	return strings.Join(parts, ", ")
}

// RunRollback rolls services of a stack back to their previous spec.
func RunRollback(ctx context.Context, namespace string, o RollbackOptions, format string, out, errw io.Writer) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	if err := ValidateName(namespace); err != nil {
		return err
	}
	c, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	o.Out = out
	if format == "json" {
		o.Out = errw
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	res, err := Rollback(ctx, c, namespace, o)
	if format == "json" {
		if jerr := WriteJSON(out, res); jerr != nil && err == nil {
			err = jerr
		}
	} else if err == nil {
		fmt.Fprintf(out, "Stack %s: %s (%s)\n", res.Stack, res.Outcome, summarize(res))
	}
	return err
}

// imageHints reads the literal `image:` values of the compose files without
// loading them (no merging, no interpolation), so that registry lookups can
// start early. They are hints only: Prepare uses a lookup only for an image
// the loaded stack really has.
func imageHints(lo Options) []string {
	var out []string
	for _, f := range lo.Files {
		if f == "-" {
			continue
		}
		if !filepath.IsAbs(f) && lo.WorkingDir != "" {
			f = filepath.Join(lo.WorkingDir, f)
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var doc struct {
			Services map[string]struct {
				Image string `yaml:"image"`
			} `yaml:"services"`
		}
		if yaml.Unmarshal(raw, &doc) != nil {
			continue
		}
		for _, svc := range doc.Services {
			if svc.Image != "" && !strings.Contains(svc.Image, "$") {
				out = append(out, svc.Image)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
