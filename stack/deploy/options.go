package deploy

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/deckhand/deckhand/stack/plan"
	"github.com/deckhand/deckhand/stack/record"
	"github.com/deckhand/deckhand/stack/revision"
)

// Options are the knobs of plan and deploy.
type Options struct {
	Prune            bool
	WithRegistryAuth bool             // send registry credentials to the swarm with each service
	ResolveImage     plan.ResolveMode // always, changed or never
	Parallel         int              // concurrent engine writes and registry lookups
	KeepVersions     int              // with Prune, unused config/secret versions kept per key
	Wait             bool             // wait until the changed services converge
	Timeout          time.Duration    // how long to wait
	PendingTimeout   time.Duration    // a task pending with a scheduling error this long fails its service; 0 means DefaultPendingTimeout
	Atomic           bool             // undo every write of this run on any failure
	// Auth returns encoded registry credentials for an image; used to resolve
	// digests and, with WithRegistryAuth, sent with service writes.
	Auth func(image string) (string, error)
	// PrefetchImages are images the stack probably uses (read from the raw
	// files); with ResolveImage always they are looked up while it loads.
	PrefetchImages []string
	// Prepared is the plan the caller made for this run (PrepareFrom) and
	// knows to be current (see Current); DeployFrom then does not prepare
	// again.
	Prepared *Prepared
	// QuorumCheck checks that the swarm has a leader; nil uses the node list.
	QuorumCheck  func(ctx context.Context) error
	Out          io.Writer     // human progress, one line per event
	Progress     Progress      // the wait's progress; nil shows none
	Logger       *slog.Logger  // structured logs
	WaitInterval time.Duration // see WaitOptions.Interval
	Settle       time.Duration // see WaitOptions.Settle
	Timings      *Timings      // records each phase; nil records nothing
	// Revision records every deploy that changes something as a revision
	// of the stack, in the swarm; nil records nothing.
	Revision *RevisionOptions
	// restore, when set, makes the deploy a rollback to a recorded revision.
	restore *restore
}

func (o *Options) defaults() {
	if o.ResolveImage == "" {
		o.ResolveImage = plan.ResolveAlways
	}
	if o.Parallel < 1 {
		o.Parallel = 8
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
}

// RevisionOptions say how a deploy that changes something is recorded.
type RevisionOptions struct {
	Keep int        // revisions kept per stack; older records are removed (default 10)
	Who  record.Who // who runs the deploy
	// From is where the deploy's images come from (--images-from), for
	// the record: "app@7", "context staging: app".
	From string
	Now  func() time.Time // the clock; nil is time.Now
}

// restore is a rollback to a recorded revision: it prepares the plan that
// brings the live stack back to the revision, in place of loading a file.
type restore struct {
	number int
	rev    *revision.Revision // the revision restored, once prepared
}
