package main

import (
	"strconv"
	"strings"
)

// quorumOptions are the flags of `deckhand quorum`; the …Set fields say
// which were given, since 0 is a meaningful (or a wrong) value for them.
type quorumOptions struct {
	engine      *target // the swarm to read when no offline figures are given
	managers    int
	managersSet bool
	ps          floatList
	pSet        bool
	mtbf        string
	mttr        string
	table       bool
	target      float64
	targetSet   bool
	zones       string
	zonesSet    bool
	zoneP       float64
	zonePSet    bool
	zoneCount   int
	zoneLabel   string
	format      string
	plot        string
	plotRange   string
}

// floatList is a flag of comma-separated numbers ("0.001,0.01,0.05").
type floatList []float64

func (l *floatList) String() string {
	parts := make([]string, len(*l))
	for i, f := range *l {
		parts[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

func (l *floatList) Set(s string) error {
	var out floatList
	for _, part := range strings.Split(s, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return err
		}
		out = append(out, f)
	}
	*l = out
	return nil
}

func (l *floatList) Type() string { return "float" }
