package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/deckhand/deckhand/internal/golden"
)

// cliCase is a directory under testdata/<command>/ holding the inputs of one
// command line: "args" (the arguments, split on white space), optionally
// "environ" (KEY=VALUE lines set in the process environment) and "stdin",
// plus whatever files the arguments name. Its "golden.txt" holds the exit
// code, stdout and stderr, with the case's absolute path written as $CASE.
func runGoldenCases(t *testing.T, command string) {
	dirs, err := filepath.Glob(filepath.Join("testdata", command, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases under testdata/%s: %v", command, err)
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "args")); err != nil {
			continue // a file the cases share, not a case
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, runCase(t, abs), filepath.Join(abs, "golden.txt"))
		})
	}
}

func runCase(t *testing.T, dir string) []byte {
	t.Helper()
	rawArgs, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(string(rawArgs))
	if env, err := os.Open(filepath.Join(dir, "environ")); err == nil {
		sc := bufio.NewScanner(env)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				t.Setenv(k, v)
			}
		}
		env.Close()
	}
	var stdin bytes.Buffer
	if in, err := os.ReadFile(filepath.Join(dir, "stdin")); err == nil {
		stdin.Write(in)
	}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := newCLI(&stdin, &stdout, &stderr).run(append([]string{"deckhand"}, args...))

	var b bytes.Buffer
	b.WriteString("$ deckhand " + strings.Join(args, " ") + "\n")
	b.WriteString("exit " + strconv.Itoa(code) + "\n")
	b.WriteString("-- stdout --\n")
	b.Write(stdout.Bytes())
	b.WriteString("-- stderr --\n")
	b.Write(stderr.Bytes())
	return bytes.ReplaceAll(b.Bytes(), []byte(dir), []byte("$CASE"))
}
