package main

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/deckhand/deckhand/stack/compose"
)

// addLoadFlags binds the flags every command that loads a stack shares.
func addLoadFlags(fs *pflag.FlagSet, o *compose.Options) {
	fs.StringArrayVarP(&o.Files, "compose-file", "c", nil, "compose file, merged in the order given; - reads standard input (repeatable)")
	fs.StringArrayVar(&o.EnvFiles, "env-file", nil, "env file with variables for interpolation (repeatable; default: .env next to the first compose file)")
	fs.BoolVar(&o.AllowMissing, "allow-missing", false, "substitute unset variables with an empty string, as docker does, with a warning for each")
	fs.BoolVar(&o.StrictSwarm, "strict-swarm", false, "fail on compose keys that swarm ignores or rejects instead of warning")
}

// environ turns a process environment (os.Environ()) into a map.
func environ(kv []string) map[string]string {
	env := make(map[string]string, len(kv))
	for _, e := range kv {
		k, v, ok := strings.Cut(e, "=")
		if ok && k != "" {
			env[k] = v
		}
	}
	return env
}

// processEnviron is environ(os.Environ()): the edge where the process
// environment becomes an input of loading.
func processEnviron() map[string]string { return environ(os.Environ()) }
