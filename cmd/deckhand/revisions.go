package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/stack/compose"
	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/record"
)

// revisionFlags are the flags of plan, deploy and rollback --to about
// revisions and promotion.
type revisionFlags struct {
	keep        int    // --keep-revisions
	imagesFrom  string // --images-from STACK[@REV]
	fromContext string // --images-from-context CONTEXT
}

// addKeepRevisionsFlag binds --keep-revisions.
func addKeepRevisionsFlag(fs *pflag.FlagSet, f *revisionFlags) {
	fs.IntVar(&f.keep, "keep-revisions", deploy.DefaultKeepRevisions, "revisions of the stack kept in the swarm; with --prune, every config/secret version they use is kept too")
}

// addPromotionFlags binds --images-from and --images-from-context.
func addPromotionFlags(fs *pflag.FlagSet, f *revisionFlags) {
	fs.StringVar(&f.imagesFrom, "images-from", "", "deploy with exactly the image digests of STACK@REV (a recorded revision) or STACK (as it runs now); default with --images-from-context: this stack")
	fs.StringVar(&f.fromContext, "images-from-context", "", "docker context where --images-from's stack runs (default: the target)")
}

// revisionOptions checks the flags (before any engine is contacted) and
// says who runs this command.
func (f revisionFlags) revisionOptions() (*deploy.RevisionOptions, error) {
	if f.keep < 1 {
		return nil, fmt.Errorf("--keep-revisions %d: keep at least 1 revision", f.keep)
	}
	if f.imagesFrom != "" {
		if _, _, err := parseStackRef(f.imagesFrom); err != nil {
			return nil, err
		}
	}
	return &deploy.RevisionOptions{Keep: f.keep, Who: whoAmI(processEnviron())}, nil
}

// whoAmI is the edge where the user, the host and the CI job become the
// record's author. Under sudo, the user is the one who ran sudo.
func whoAmI(env map[string]string) record.Who {
	w := record.Who{User: env["SUDO_USER"], CI: record.DetectCI(env)}
	if w.User == "" {
		if u, err := user.Current(); err == nil {
			w.User = u.Username
		} else {
			w.User = env["USER"]
		}
	}
	w.Host, _ = os.Hostname()
	return w
}

// parseStackRef splits STACK[@REV]; rev is 0 without @REV.
func parseStackRef(ref string) (string, int, error) {
	name, rev, hasRev := strings.Cut(ref, "@")
	if err := compose.ValidateName(name); err != nil {
		return "", 0, fmt.Errorf("--images-from %q: %w", ref, err)
	}
	if !hasRev {
		return name, 0, nil
	}
	n, err := strconv.Atoi(rev)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("--images-from %q: %q is not a revision number; use STACK@REV with a number from deckhand history %s", ref, rev, name)
	}
	return name, n, nil
}

// promotion reads the images --images-from names, on the target (c) or on
// the stack's context, and returns them with a description for the record.
// It returns nil when no promotion is asked for.
func promotion(ctx context.Context, t *target, c *engineConn, f revisionFlags, stack string) (map[string]string, string, error) {
	if f.imagesFrom == "" && f.fromContext == "" {
		return nil, "", nil
	}
	ref := f.imagesFrom
	if ref == "" {
		ref = stack
	}
	name, rev, err := parseStackRef(ref)
	if err != nil {
		return nil, "", err
	}
	from, src := ref, c
	if f.fromContext != "" {
		src, err = t.forContext(f.fromContext).connect(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("--images-from-context %s: %w", f.fromContext, err)
		}
		defer src.Close()
		from = fmt.Sprintf("%s on context %s", ref, f.fromContext)
	}
	images, err := deploy.ImagesFrom(ctx, src, name, rev)
	if err != nil {
		return nil, "", fmt.Errorf("--images-from %s: %w", from, err)
	}
	return images, from, nil
}

// forContext is a target for another docker context, set up exactly as t
// is (the same docker config directory).
func (t *target) forContext(name string) *target {
	other := newTarget(pflag.NewFlagSet("images-from-context", pflag.ContinueOnError))
	_ = other.flags.Set("context", name)
	if t.flags.Changed("config") {
		_ = other.flags.Set("config", t.opts.ConfigDir)
	}
	return other
}
