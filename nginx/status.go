package nginx

import (
	"time"

	"github.com/deckhand/deckhand/discovery"
)

// MaxChanges is how many applied changes Status keeps.
const MaxChanges = 10

// Status is what Watch last saw and did, for people: the routing of the
// config in place, the engine, the last test and reload, and the last
// changes. Metrics.Status returns a copy; its slices must not be modified.
type Status struct {
	// Model is the routing of the config in place: where nginx sends
	// traffic now. Empty until a config was put in place.
	Model discovery.Model
	// Applied is when the config in place was put there (zero: not yet).
	Applied time.Time
	// EngineReachable reports whether the last read of the swarm succeeded.
	EngineReachable bool
	// EngineError is why the last read failed ("" when it succeeded).
	EngineError string
	// LastRead is when the swarm was last read successfully (zero: never).
	LastRead time.Time
	// Skipped says, one line per service, why services were left out of
	// the config at the last read (bad labels, clashing routes), sorted.
	Skipped []string
	// Write, Test and Reload are the last write of the config file, the
	// last run of the test command and of the reload command.
	Write, Test, Reload Outcome
	// Changes are the last MaxChanges configs put in place, newest first.
	Changes []Change
}

// Outcome is the last run of one step: when, and whether it succeeded.
type Outcome struct {
	At  time.Time // zero: the step has not run
	OK  bool
	Err string // why it failed
}

// Change is one config put in place, as the "nginx config applied" log
// line tells it.
type Change struct {
	At time.Time
	// Added and Removed are "upstream server" lines, sorted.
	Added, Removed []string
	// Summary groups them per upstream: "app_web +10.0.0.3:30000 -10.0.0.1:30000".
	Summary string
	// Reloaded reports whether nginx was reloaded with it.
	Reloaded bool
	// ReloadError is why the reload failed ("" when it did not fail).
	ReloadError string
	// Upstreams is how many upstreams the config holds.
	Upstreams int
}

func failed(at time.Time, err error) Outcome { return Outcome{At: at, Err: err.Error()} }

func succeeded(at time.Time) Outcome { return Outcome{At: at, OK: true} }
