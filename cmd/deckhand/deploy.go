package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of deploy): replace this placeholder.
func newDeployCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "deploy",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("deploy: not implemented yet")
		},
	}
}
