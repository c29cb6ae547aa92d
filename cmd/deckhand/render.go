package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// TODO(owner of render): replace this placeholder.
func newRenderCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "render",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("render: not implemented yet")
		},
	}
}
