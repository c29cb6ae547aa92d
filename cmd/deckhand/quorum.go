package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of quorum): replace this placeholder.
func newQuorumCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "quorum",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("quorum: not implemented yet")
		},
	}
}
