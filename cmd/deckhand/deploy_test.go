package main

import "testing"

// TestDeployGolden covers plan, deploy and rollback command lines that end
// before any engine write: bad flags, missing variables, no engine.
func TestDeployGolden(t *testing.T) { runGoldenCases(t, "deploy") }

// TestTargetGolden: commands that talk to an engine choose it as the docker
// CLI does (--context, -H, DOCKER_CONTEXT, DOCKER_HOST, the current context
// of the docker config) and say which one they could not reach.
func TestTargetGolden(t *testing.T) { runGoldenCases(t, "target") }
