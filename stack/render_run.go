package stack

import (
	"context"
	"fmt"
	"io"
)

// RunRender loads the stack and writes it to out in format ("yaml" or
// "json"); warnings go to errw, one line each.
func RunRender(ctx context.Context, o Options, format string, out, errw io.Writer) error {
	if format != "yaml" && format != "json" {
		return fmt.Errorf("unknown --format %q: use yaml or json", format)
	}
	st, err := Load(ctx, o)
	if err != nil {
		return err
	}
	for _, w := range st.Warnings {
		fmt.Fprintf(errw, "warning: %s\n", w)
	}
	var doc []byte
	if format == "json" {
		doc, err = st.JSON()
	} else {
		doc, err = st.YAML()
	}
	if err != nil {
		return err
	}
	_, err = out.Write(doc)
	return err
}
