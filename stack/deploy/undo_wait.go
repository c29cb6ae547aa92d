package deploy

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// undoAndWait undoes the run's writes and, when the run waits, waits for
// the services it restored to converge on their previous spec, reporting
// each one's end state (on ao.Out and in the returned lines). A service
// whose restore failed is in the message only: it does not run its
// previous spec, so there is no end state of a restore to report.
func undoAndWait(api API, applied *Applied, ao ApplyOptions, o Options) ([]string, string) {
	done, msg := undo(api, applied, ao)
	ids := map[string]string{}
	for name, c := range applied.Updated {
		if slices.Contains(done, restoredLine(name)) {
			ids[name] = c.ID
		}
	}
	if !o.Wait || len(ids) == 0 {
		return done, msg
	}
	// Its own context, like Undo: it also runs after Ctrl-C.
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	outcomes := Wait(ctx, api, ids, WaitOptions{Progress: o.Progress, Interval: o.WaitInterval, Settle: o.Settle, PendingTimeout: o.PendingTimeout, Logger: o.Logger})
	slices.SortFunc(outcomes, func(a, b ServiceOutcome) int { return strings.Compare(a.Name, b.Name) })
	var failed []string
	for _, oc := range outcomes {
		state := restoredState(oc)
		fmt.Fprintf(ao.Out, "atomic: service %s %s\n", oc.Name, state)
		done = append(done, "service "+oc.Name+" "+state)
		if oc.Outcome != OutcomeConverged && oc.Outcome != OutcomeRolledBack {
			failed = append(failed, oc.Name)
		}
	}
	if len(failed) > 0 {
		msg += fmt.Sprintf("; restored service(s) %s did not converge on their previous spec: check them with docker service ps --no-trunc", strings.Join(failed, ", "))
	}
	return done, msg
}

func undo(api WriteAPI, applied *Applied, ao ApplyOptions) ([]string, string) {
	fmt.Fprintln(ao.Out, "atomic: undoing this run's changes")
	// Only what was undone is listed: a restore that failed is in the
	// message, not in the result.
	done, errs := Undo(api, applied, ao)
	if len(errs) > 0 {
		return done, "atomic undo incomplete: " + strings.Join(errs, "; ")
	}
	return done, fmt.Sprintf("atomic: restored %d updated and removed %d created service(s), %d network(s), %d config(s), %d secret(s)",
		len(applied.Updated), len(applied.Created), len(applied.Networks), len(applied.Configs), len(applied.Secrets))
}

// restoredState is a restored service's end state in words.
func restoredState(oc ServiceOutcome) string {
	switch oc.Outcome {
	case OutcomeConverged:
		return "converged on its previous spec"
	case OutcomeRolledBack:
		return "runs its previous spec (swarm rolled it back)"
	}
	s := "did not converge on its previous spec: " + string(oc.Outcome)
	if oc.Message != "" {
		s += ": " + oc.Message
	}
	return s
}
