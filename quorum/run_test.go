package quorum

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/swarm"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestRunLiveGolden(t *testing.T) {
	threeZones := []swarm.Node{
		node("node1", "n1aaaaaaaaaaaaaaaaaaaaaa1", leader, zone("a")),
		node("node2", "n2bbbbbbbbbbbbbbbbbbbbbb2", zone("b")),
		node("node3", "n3cccccccccccccccccccccc3", zone("c")),
	}
	oneDown := []swarm.Node{
		node("node1", "n1aaaaaaaaaaaaaaaaaaaaaa1", leader, zone("a")),
		node("node2", "n2bbbbbbbbbbbbbbbbbbbbbb2", zone("a"), unreachable),
		node("node3", "n3cccccccccccccccccccccc3", zone("b")),
	}
	single := []swarm.Node{node("vm", "qmcvyvhqqtgioajcgm1p9nda1", leader)}
	tests := []struct {
		name  string
		nodes []swarm.Node
		err   error
		opts  Options
		lost  bool
	}{
		{"live-3-zones", threeZones, nil, Options{P: 0.01, PSet: true, ZoneP: 0.001, ZonePSet: true, ZoneLabel: "zone", Format: "table"}, false},
		{"live-3-zones-json", threeZones, nil, Options{P: 0.01, PSet: true, ZoneP: 0.001, ZonePSet: true, ZoneLabel: "zone", Format: "json"}, false},
		{"live-one-down", oneDown, nil, Options{MTBF: "2000h", MTTR: "4h", ZoneLabel: "zone", Format: "table"}, false},
		{"live-single-no-p", single, nil, Options{ZoneLabel: "zone", Format: "table"}, false},
		{"live-no-leader", nil, errors.New(noLeaderAnswer), Options{P: 0.01, PSet: true, ZoneLabel: "zone", Format: "table"}, true},
		{"live-no-leader-json", nil, errors.New(noLeaderAnswer), Options{P: 0.01, PSet: true, ZoneLabel: "zone", Format: "json"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNodes{nodes: tt.nodes, err: tt.err}
			var out bytes.Buffer
			err := Run(context.Background(), &out, tt.opts, func(context.Context) (NodeLister, error) { return f, nil })
			if tt.lost != errors.Is(err, ErrNoQuorum) || (!tt.lost && err != nil) {
				t.Fatalf("Run error = %v, want lost quorum: %v", err, tt.lost)
			}
			if tt.opts.Format == "json" && !json.Valid(out.Bytes()) {
				t.Errorf("output is not JSON:\n%s", out.Bytes())
			}
			golden(t, filepath.Join("run", tt.name+".golden"), out.Bytes())
		})
	}
}

func TestRunConnectError(t *testing.T) {
	want := errors.New("cannot reach the docker engine")
	err := Run(context.Background(), &bytes.Buffer{}, Options{Format: "table"}, func(context.Context) (NodeLister, error) { return nil, want })
	if !errors.Is(err, want) {
		t.Errorf("Run error = %v, want the connect error", err)
	}
}
