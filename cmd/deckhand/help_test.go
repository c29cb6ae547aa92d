package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasExample walks the whole command tree: every command a
// user can see carries a real example in its --help.
func TestEveryCommandHasExample(t *testing.T) {
	root := newCLI(nil, &bytes.Buffer{}, &bytes.Buffer{}).newRootCommand()
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		seen++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no example in its --help", c.CommandPath())
		} else if !strings.Contains(c.Example, "deckhand") {
			t.Errorf("%q: its example does not show a deckhand command line:\n%s", c.CommandPath(), c.Example)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if seen < 10 {
		t.Errorf("walked only %d commands; the tree is not what it should be", seen)
	}
}

// TestCompletionAndVersion runs the completion scripts and the version
// command through the CLI.
func TestCompletionAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"completion", "bash"}, "__start_deckhand"},
		{[]string{"completion", "zsh"}, "#compdef deckhand"},
		{[]string{"completion", "fish"}, "complete -c deckhand"},
		{[]string{"version"}, "deckhand "},
		{[]string{"--version"}, "deckhand "},
	} {
		var out, errOut bytes.Buffer
		code := newCLI(nil, &out, &errOut).run(append([]string{"deckhand"}, tc.args...))
		if code != 0 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("deckhand %s: exit %d, stdout lacks %q\nstdout: %.300s\nstderr: %s", strings.Join(tc.args, " "), code, tc.want, out.String(), errOut.String())
		}
	}
}

// TestUnknownCommandFails checks a typo exits 1 with a message, not a panic.
func TestUnknownCommandFails(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := newCLI(nil, &out, &errOut).run([]string{"deckhand", "deplyo"}); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), `unknown command "deplyo"`) {
		t.Errorf("stderr does not name the unknown command: %s", errOut.String())
	}
}
