package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/internal/exit"
	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/plan"
)

// stackFlags are the flags plan and deploy share besides the load flags.
type stackFlags struct {
	target  *target // the engine to deploy to
	deploy  deploy.Options
	resolve string // --resolve-image, checked into deploy.ResolveImage
	format  string // text or json
	revs    revisionFlags
	timings bool      // --timings: record and print each phase's time
	start   time.Time // when the process began the command: the origin of the timings
}

// addPlanFlags binds the flags plan and deploy share.
func addPlanFlags(fs *pflag.FlagSet, f *stackFlags) {
	fs.BoolVar(&f.deploy.Prune, "prune", false, "remove services no longer in the file and unused config/secret versions")
	fs.StringVar(&f.resolve, "resolve-image", string(plan.ResolveAlways), `query the registry for image digests: "always", "changed" or "never"`)
	fs.IntVar(&f.deploy.KeepVersions, "keep-versions", 2, "with --prune, unused versions of each hash-named config/secret to keep")
	fs.IntVar(&f.deploy.Parallel, "parallel", 8, "concurrent engine writes and registry lookups")
	addKeepRevisionsFlag(fs, &f.revs)
	addPromotionFlags(fs, &f.revs)
}

// checkFormat accepts the output formats of plan, deploy and rollback.
func checkFormat(f string) error {
	if f != "text" && f != "json" {
		return fmt.Errorf("unknown --format %q: use text or json", f)
	}
	return nil
}

// connectStack is the edge of the commands that name a stack and read or
// write it without loading a file: it checks the output format and the
// stack's name, then connects to the target.
func connectStack(ctx context.Context, t *target, format, stack string) (*engineConn, error) {
	if err := checkFormat(format); err != nil {
		return nil, err
	}
	if err := compose.ValidateName(stack); err != nil {
		return nil, err
	}
	return t.connect(ctx)
}

// connectForDeploy is the edge shared by plan and deploy: it checks the
// flags, then starts loading the stack while it connects to the target
// engine, takes the registry credentials from the target's docker config,
// and returns the source that hands over the loaded stack (to
// deploy.PrepareFrom, which reads the engine and the registry meanwhile).
// When the engine cannot be reached, problems in the files are reported
// first.
func connectForDeploy(ctx context.Context, lo compose.Options, f *stackFlags, errw io.Writer) (deploy.Source, *engineConn, error) {
	if err := checkFormat(f.format); err != nil {
		return nil, nil, err
	}
	mode, err := plan.ParseResolveMode(f.resolve)
	if err != nil {
		return nil, nil, fmt.Errorf("unknown --resolve-image %q: use always, changed or never", f.resolve)
	}
	f.deploy.ResolveImage = mode
	if err := compose.ValidateName(lo.Name); err != nil {
		return nil, nil, err
	}
	if f.timings {
		f.deploy.Timings = deploy.NewTimings(f.start)
		f.deploy.Timings.Add("flags", f.start, time.Now())
	}
	tm := f.deploy.Timings
	if f.deploy.Logger == nil {
		f.deploy.Logger = slog.Default()
	}
	if f.deploy.Revision, err = f.revs.revisionOptions(); err != nil {
		return nil, nil, err
	}
	// The stack loads, the image hints are read and the engine is pinged
	// all at once: none needs another.
	var (
		st      *compose.Stack
		loadErr error
		loaded  = make(chan struct{})
	)
	go func() {
		defer close(loaded)
		defer tm.Begin("load")()
		st, loadErr = compose.Load(ctx, lo)
	}()
	// The source may be asked twice (deploy plans before it takes the lock
	// and again when another run wrote meanwhile): warn once.
	source := sync.OnceValues(func() (*compose.Stack, error) {
		<-loaded
		if loadErr != nil {
			return nil, loadErr
		}
		printWarnings(errw, st)
		return st, nil
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer tm.Begin("image hints")()
		f.deploy.PrefetchImages = compose.ImageHints(lo)
	})
	endConnect := tm.Begin("connect")
	c, err := f.target.connect(ctx)
	endConnect()
	wg.Wait()
	if err != nil {
		if _, lerr := source(); lerr != nil {
			return nil, nil, lerr
		}
		return nil, nil, err
	}
	f.deploy.Auth = newRegistryAuth(c.Config).Encode
	images, from, err := promotion(ctx, f.target, c, f.revs, lo.Name)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	if images != nil {
		source, f.deploy.Revision.From, f.deploy.PrefetchImages = deploy.Promote(source, images, from), from, nil
	}
	return source, c, nil
}

// finishTimings records the whole command as "total" and, with --timings,
// prints every phase to w, total last; it returns the phases for a JSON
// result. The process's own start-up before main is not in them.
func (f *stackFlags) finishTimings(w io.Writer) []deploy.Timing {
	tm := f.deploy.Timings
	if tm == nil {
		return nil
	}
	total := time.Since(f.start)
	tm.Add("total", f.start, f.start.Add(total))
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	fmt.Fprintln(w, "timings (ms since the command started; phases overlap where they run together):")
	fmt.Fprintf(w, "  %8s %8s  %s\n", "START", "TOOK", "PHASE")
	phases := tm.Phases()
	for _, p := range phases {
		if p.Phase != "total" {
			fmt.Fprintf(w, "  %8s %8s  %s\n", ms(p.Start), ms(p.Duration), p.Phase)
		}
	}
	fmt.Fprintf(w, "  %8s %8s  %s\n", "", ms(total), "total")
	return phases
}

// writeResult prints a deploy's or rollback's result: JSON on out, with the
// target it went to, or one summary line when it succeeded. The error
// carries the exit code: 3 when services did not converge, 1 for any other
// failure, the engine going away during the run included.
func writeResult(out io.Writer, format string, c *engineConn, res *deploy.Result, err error) error {
	if format == "json" {
		doc := struct {
			*deploy.Result
			Target engineJSON `json:"target"`
		}{res, c.JSON()}
		if jerr := writeJSON(out, doc); jerr != nil && err == nil {
			err = jerr
		}
	} else if err == nil {
		recorded := ""
		if res.Revision > 0 {
			recorded = fmt.Sprintf("; revision %d", res.Revision)
		}
		fmt.Fprintf(out, "Stack %s: %s (%s)%s\n", res.Stack, res.Outcome, summarize(res), recorded)
	}
	if err != nil && !engineAnswers(c) {
		// Whether the services converged cannot be known: the run failed
		// because the engine went away (exit 1), not because they did not.
		return exit.With(exit.Failure, fmt.Errorf("%w; the docker engine at %s stopped answering during the run: once it answers again, deckhand plan shows what this run wrote and deploy --atomic restores the revision before it first", err, c))
	}
	var nc *deploy.NotConvergedError
	if errors.As(err, &nc) {
		return exit.With(exit.NotConverge, err)
	}
	return err
}

// engineAnswers reports whether the engine answers a ping within a few
// seconds: after a failed run, whether the engine went away during it.
func engineAnswers(c *engineConn) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := c.Ping(ctx, client.PingOptions{})
	return err == nil
}

// summarize counts a result's services by action, e.g. "1 created, 2 unchanged".
func summarize(res *deploy.Result) string {
	counts := map[plan.Action]int{}
	for _, s := range res.Services {
		counts[s.Action]++
	}
	var parts []string
	for _, a := range []struct {
		action plan.Action
		word   string
	}{{plan.ActionCreate, "created"}, {plan.ActionUpdate, "updated"}, {plan.ActionRemove, "removed"}, {plan.ActionRollback, "rolled back"}, {deploy.ActionUnchanged, "unchanged"}} {
		if n := counts[a.action]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, a.word))
		}
	}
	if len(parts) == 0 {
		return "no services"
	}
	return strings.Join(parts, ", ")
}

// progressWriter is where a run's progress goes: with --format json stdout
// carries the result alone, so progress goes to stderr.
func progressWriter(format string, out, errw io.Writer) io.Writer {
	if format == "json" {
		return errw
	}
	return out
}

// writeJSON writes v as indented JSON with a trailing newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
