package main

import "testing"

// TestQuorumGolden runs every case under testdata/quorum/ (offline modes
// and bad input; live mode is TestQuorumLiveE2E).
func TestQuorumGolden(t *testing.T) { runGoldenCases(t, "quorum") }
