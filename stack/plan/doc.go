// Package plan compares the desired swarm specs of a stack with its live
// state and returns the writes a deploy makes, as a Plan of typed Changes
// that carry their payload, plus field-level diffs with environment values
// redacted. It is pure: it never contacts an engine.
package plan
