package plan

import (
	"slices"
	"testing"
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
