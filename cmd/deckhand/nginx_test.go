package main

import "testing"

// TestNginxGolden runs every case under testdata/nginx (nginx render/apply
// and watch command lines that fail before contacting an engine, and help).
func TestNginxGolden(t *testing.T) { runGoldenCases(t, "nginx") }
