package deploy

import (
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/swarm"
)

// latestTaskError is the error of the most recent task that has one.
func latestTaskError(tasks []swarm.Task) string {
	var best *swarm.Task
	for i, t := range tasks {
		if t.Status.Err != "" && (best == nil || t.Status.Timestamp.After(best.Status.Timestamp)) {
			best = &tasks[i]
		}
	}
	if best == nil {
		return ""
	}
	msg := fmt.Sprintf("%s (task %s, %s)", best.Status.Err, shortID(best.ID), best.Status.State)
	if strings.Contains(best.Status.Err, "No such image") {
		// What the engine says when its pull failed, whatever the cause.
		msg += "; the node could not pull the image: check that the registry is up and the nodes reach it, that the image exists, and, for a private registry, that the deploy ran with --with-registry-auth"
	}
	return msg
}
