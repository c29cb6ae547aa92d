package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of watch): replace this placeholder.
func newWatchCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "watch",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("watch: not implemented yet")
		},
	}
}
