package main

import (
	"runtime/debug"

	"github.com/spf13/cobra"
)

// shortLived is the PreRun of commands that load a stack and exit: they
// allocate a lot while loading, and trading some memory for less garbage
// collection makes them markedly faster. Long-running commands (watch) keep
// the default.
func shortLived(*cobra.Command, []string) { debug.SetGCPercent(400) }
