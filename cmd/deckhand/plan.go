package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of plan): replace this placeholder.
func newPlanCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "plan",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("plan: not implemented yet")
		},
	}
}
