package deploy

import "github.com/deckhand/deckhand/stack/plan"

// Outcome is how a deploy or a rollback ended, or how the wait for one of
// its services did.
type Outcome string

// Outcomes of a whole deploy or rollback.
const (
	OutcomeConverged    Outcome = "converged"
	OutcomeNoChanges    Outcome = "no changes"
	OutcomeApplied      Outcome = "applied" // written, not waited for
	OutcomeFailed       Outcome = "failed"
	OutcomeNotConverged Outcome = "not converged"
)

// Outcomes of one service.
const (
	OutcomeRolledBack Outcome = "rolled back"
	OutcomePaused     Outcome = "paused"
	OutcomeTimedOut   Outcome = "timed out"
	// OutcomeUnschedulable: a task stayed pending with a scheduling error
	// (no suitable node) for the pending timeout.
	OutcomeUnschedulable Outcome = "unschedulable"
	OutcomeCanceled      Outcome = "canceled"
	OutcomeDetached      Outcome = "not waited"
	OutcomeUnchanged     Outcome = "unchanged"
	OutcomeRemoved       Outcome = "removed"
)

// ActionUnchanged is the action of a service result whose spec already matched.
const ActionUnchanged plan.Action = "unchanged"

// ServiceResult is what a deploy did to one service.
type ServiceResult struct {
	Service  string      `json:"service"`
	Action   plan.Action `json:"action"` // create, update, remove, rollback, unchanged
	Image    string      `json:"image,omitempty"`
	Outcome  Outcome     `json:"outcome"`
	Message  string      `json:"message,omitempty"`
	Duration float64     `json:"duration_seconds"`
}

// Result is the machine-readable outcome of a deploy or a rollback.
type Result struct {
	Stack    string          `json:"stack"`
	Outcome  Outcome         `json:"outcome"` // converged, failed, not converged, no changes, applied
	Changes  []plan.Change   `json:"changes"`
	Services []ServiceResult `json:"services"`
	Undone   []string        `json:"atomic_undo,omitempty"`
	Revision int             `json:"revision,omitempty"` // the revision this run recorded
	Warnings []string        `json:"warnings,omitempty"`
	Error    string          `json:"error,omitempty"`
	Timings  []Timing        `json:"timings,omitempty"` // with --timings: each phase, in the order they started
	// Waves are the depends_on waves that ran, each with its wait; none
	// when nothing changed waits for anything.
	Waves []WaveResult `json:"waves,omitempty"`
}

// WaveResult is one wave of a deploy ordered by depends_on: what it wrote,
// what it waited for and how long the wait took.
type WaveResult struct {
	Services    []string    `json:"services"`
	WaitFor     []plan.Gate `json:"wait_for,omitempty"`
	WaitSeconds float64     `json:"wait_seconds"`
}

// NotConvergedError is the error of a deploy or rollback that wrote what it
// had to but whose services did not all converge (rolled back, paused,
// failed, unschedulable or timed out). Every other error means it failed
// before or while writing.
type NotConvergedError struct{ Err error }

func (e *NotConvergedError) Error() string { return e.Err.Error() }
func (e *NotConvergedError) Unwrap() error { return e.Err }
