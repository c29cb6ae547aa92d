package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of rollback): replace this placeholder.
func newRollbackCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "rollback",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("rollback: not implemented yet")
		},
	}
}
