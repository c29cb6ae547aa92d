package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of nginx): replace this placeholder.
func newNginxCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "nginx",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("nginx: not implemented yet")
		},
	}
}
