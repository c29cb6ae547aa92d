package plan

import (
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

func TestStaleVersionsKeepsNewest(t *testing.T) {
	vs := []objectVersion{
		{name: "s_k_1", key: "k", created: 1}, {name: "s_k_2", key: "k", created: 2},
		{name: "s_k_3", key: "k", created: 3}, {name: "s_k_4", key: "k", created: 4},
		{name: "s_j_1", key: "j", created: 1},
	}
	got := staleVersions(vs, map[string]bool{"s_k_4": true}, map[string]bool{"s_k_1": true}, 2)
	var names []string
	for _, v := range got {
		names = append(names, v.name)
	}
	if want := []string{"s_k_2"}; !slices.Equal(names, want) {
		t.Errorf("stale = %v, want %v (newest 2 kept, declared and used never pruned)", names, want)
	}
}

// TestUpdateConfigEngineDefaultsAreNoChange: an update_config without
// order or failure_action comes back from the engine with stop-first and
// pause; without treating them as absent every deploy would update the
// service again.
func TestUpdateConfigEngineDefaultsAreNoChange(t *testing.T) {
	desired := swarm.ServiceSpec{UpdateConfig: &swarm.UpdateConfig{Monitor: time.Second}, RollbackConfig: &swarm.UpdateConfig{Parallelism: 2}}
	live := desired
	live.UpdateConfig = &swarm.UpdateConfig{Monitor: time.Second, Order: swarm.UpdateOrderStopFirst, FailureAction: swarm.UpdateFailureActionPause}
	live.RollbackConfig = &swarm.UpdateConfig{Parallelism: 2, Order: swarm.UpdateOrderStopFirst, FailureAction: swarm.UpdateFailureActionPause}
	if diff := DiffServiceSpecs(live, desired); len(diff) != 0 {
		t.Errorf("the engine's defaults show as changes: %+v", diff)
	}
	desired.UpdateConfig = &swarm.UpdateConfig{Monitor: time.Second, Order: swarm.UpdateOrderStartFirst}
	if diff := DiffServiceSpecs(live, desired); len(diff) != 1 || diff[0].Field != "update_config.Order" {
		t.Errorf("diff = %+v, want update_config.Order alone", diff)
	}
}
