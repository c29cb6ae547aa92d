package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deckhand/deckhand/stack/deploy"
	"github.com/deckhand/deckhand/stack/revision"
)

type historyOptions struct {
	target   *target
	format   string
	rendered bool // print only the rendered stack of one revision
}

func newHistoryCommand(t *target) *cobra.Command {
	o := historyOptions{target: t}
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] STACK [REV]",
		Short: "List the recorded revisions of a stack, or show one",
		Long: `History lists the revisions deckhand recorded in the swarm for the stack, oldest
first: every deploy or rollback --to that changed something records one, with
who ran it (user and host, or the CI job and commit), its outcome and the
images it changed. The records live in the swarm, so every machine that
reaches a manager sees the same history. With REV it shows one revision: its
author, files digest, services with their pinned images, config and secret
versions, and with --rendered only its compose document as render printed it
then, with every image pinned to its digest (config and secret files are
named by path, their content is not kept).

A stack that docker stack deploy made has no history before deckhand's
first deploy, which records revision 1; history says that what ran before
it is unknown.`,
		Example: `  # Who deployed what, and when
  deckhand history my-cool-app

  # Everything about revision 7, and its compose document, images pinned
  deckhand history my-cool-app 7
  deckhand history --rendered my-cool-app 7`,
		Args:   cobra.RangeArgs(1, 2),
		PreRun: shortLived,
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := 0
			if len(args) == 2 {
				var err error
				if rev, err = parseRevision(args[1]); err != nil {
					return err
				}
			}
			return runHistory(cmd.Context(), args[0], rev, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.format, "format", "text", "output format: text or json")
	fs.BoolVar(&o.rendered, "rendered", false, "with REV: print only the revision's compose document, images pinned")
	return cmd
}

// parseRevision checks a revision number given as an argument.
func parseRevision(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("revision %q is not a revision number: use a number that deckhand history lists", s)
	}
	return n, nil
}

// runHistory prints a stack's history, or one revision of it.
func runHistory(ctx context.Context, stack string, rev int, o historyOptions, out, errw io.Writer) error {
	if o.rendered && rev == 0 {
		return fmt.Errorf("--rendered shows one revision: give its number, as in deckhand history --rendered %s REV", stack)
	}
	c, err := connectStack(ctx, o.target, o.format, stack)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(errw, "reading the history of stack %s on %s\n", stack, c)
	if rev > 0 {
		revs, err := deploy.Revisions(ctx, c, stack)
		if err != nil {
			return err
		}
		r, err := revision.Find(revs, stack, rev)
		if err != nil {
			return err
		}
		switch {
		case o.rendered && r.Rendered == "":
			return fmt.Errorf("revision %d of stack %q has no compose document: a rollback records specs only, and a revision too large for a record drops it; deckhand history %s %d shows its images", rev, stack, stack, rev)
		case o.rendered:
			_, err = io.WriteString(out, r.Rendered)
		case o.format == "json":
			err = writeJSON(out, struct {
				Number  int              `json:"revision"`
				Outcome revision.Outcome `json:"outcome"`
				*revision.Revision
			}{r.Number, r.Outcome, r})
		default:
			err = writeRevision(out, r)
		}
		return err
	}
	h, err := deploy.ReadHistory(ctx, c, stack)
	if err != nil {
		return err
	}
	if h.Before == deploy.OriginNone {
		return fmt.Errorf("stack %q has no recorded revisions and no services on %s; check the name (docker stack ls)", stack, c)
	}
	if o.format == "json" {
		return writeJSON(out, struct {
			*deploy.History
			Target engineJSON `json:"target"`
		}{h, c.JSON()})
	}
	return writeHistory(out, h)
}

// timeText is how times read in tables: UTC, to the second.
func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// writeHistory prints the history table and what came before it.
func writeHistory(w io.Writer, h *deploy.History) error {
	if h.Before == deploy.OriginUnrecorded {
		_, err := fmt.Fprintf(w, "Stack %s has no recorded revisions: it was deployed by other means (docker stack deploy?), so what runs is not known to deckhand.\nThe next deckhand deploy that changes it records revision 1.\n", h.Stack)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tTIME\tACTION\tWHO\tCOMMIT\tOUTCOME\tIMAGES CHANGED")
	for _, s := range h.Revisions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Number, timeText(s.Time), s.Describe(), s.Who, orDash(s.Commit), s.Outcome, imagesText(h.Stack, s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var note string
	switch first := h.Revisions[0].Number; h.Before {
	case deploy.OriginAdopted:
		note = "before revision 1 the stack was deployed by other means (docker stack deploy?): what ran then is unknown"
	case deploy.OriginPruned:
		note = fmt.Sprintf("revisions before %d were removed to keep %d (--keep-revisions)", first, len(h.Revisions))
	}
	if note != "" {
		_, err := fmt.Fprintf(w, "note: %s\n", note)
		return err
	}
	return nil
}

// imagesText lists a revision's image changes for the table: web=app:v2@9568f1836a21, -old.
func imagesText(stack string, s revision.Summary) string {
	if s.Partial {
		return "(not recorded: too large)"
	}
	var parts []string
	for _, c := range s.ImagesChanged {
		name := strings.TrimPrefix(c.Service, stack+"_")
		if c.Image == "" {
			parts = append(parts, "-"+name)
			continue
		}
		parts = append(parts, name+"="+revision.ShortImage(c.Image))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeRevision prints one revision in full, without its compose document.
func writeRevision(w io.Writer, r *revision.Revision) error {
	sum := revision.Summarize([]*revision.Revision{r})[0]
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "revision\t%d of stack %s\n", r.Number, r.Stack)
	fmt.Fprintf(tw, "time\t%s\n", timeText(r.Time))
	fmt.Fprintf(tw, "action\t%s\n", sum.Describe())
	fmt.Fprintf(tw, "outcome\t%s\n", r.Outcome)
	for _, d := range r.Who.Details() {
		k, v, _ := strings.Cut(d, ": ")
		fmt.Fprintf(tw, "%s\t%s\n", k, v)
	}
	if r.FilesDigest != "" {
		fmt.Fprintf(tw, "files\t%s\n", r.FilesDigest)
	}
	if r.Adopted {
		fmt.Fprintf(tw, "before\tthe stack was deployed by other means: what ran is unknown\n")
	}
	if r.Partial {
		fmt.Fprintf(tw, "specs\tnot recorded: they did not fit in a record\n")
	}
	images := r.Images()
	for i, name := range slices.Sorted(maps.Keys(images)) {
		label := ""
		if i == 0 {
			label = "services"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", label, name, images[name])
	}
	fmt.Fprintf(tw, "configs\t%s\n", orDash(strings.Join(r.Configs, ", ")))
	fmt.Fprintf(tw, "secrets\t%s\n", orDash(strings.Join(r.Secrets, ", ")))
	return tw.Flush()
}
