// Command deckhand ships stacks to a Docker Swarm and keeps nginx pointing at them.
package main

import "os"

func main() {
	os.Exit(newCLI(os.Stdin, os.Stdout, os.Stderr).run(os.Args))
}
