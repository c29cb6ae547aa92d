package main

import "testing"

// TestDeployGolden covers plan, deploy and rollback command lines that end
// before any engine write: bad flags, missing variables, no engine.
func TestDeployGolden(t *testing.T) { runGoldenCases(t, "deploy") }
