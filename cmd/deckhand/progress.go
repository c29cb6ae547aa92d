package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/term"

	"github.com/deckhand/deckhand/stack/deploy"
)

// waitDisplay shows a deploy's or rollback's wait: a line per change, or on
// a terminal one line per service with a progress bar, redrawn in place.
type waitDisplay struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	names []string
	lines map[string]string
	drawn int
}

func newWaitDisplay(w io.Writer) *waitDisplay {
	_, tty := term.GetFdInfo(w)
	return &waitDisplay{w: w, tty: tty, lines: map[string]string{}}
}

// Waiting records the services the display has a line for.
func (d *waitDisplay) Waiting(names []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names = names
}

// Status shows a service's progress: plain on a pipe, a bar on a terminal.
func (d *waitDisplay) Status(s deploy.ServiceStatus) {
	text := fmt.Sprintf("%s: %d/%d %s", s.Name, s.Ready, s.Desired, s.Phase)
	pending := ""
	if s.Pending != "" {
		pending = " (pending: " + s.Pending + ")"
	}
	if d.tty {
		const width = 20
		filled := width
		if s.Desired > 0 {
			filled = min(width, width*s.Ready/s.Desired)
		}
		text = fmt.Sprintf("%s [%s%s] %d/%d %s", s.Name, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), s.Ready, s.Desired, s.Phase)
	}
	d.set(s.Name, text+pending)
}

// Finished shows how a service's wait ended.
func (d *waitDisplay) Finished(o deploy.ServiceOutcome) {
	msg := ""
	if o.Message != "" {
		msg = ": " + o.Message
	}
	d.set(o.Name, fmt.Sprintf("%s: %s after %s%s", o.Name, o.Outcome, o.Duration.Round(100*time.Millisecond), msg))
}

// set records a service's line and shows it.
func (d *waitDisplay) set(name, text string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.tty {
		fmt.Fprintln(d.w, text)
		return
	}
	d.lines[name] = text
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", d.drawn) // back to the first line
	}
	for _, n := range d.names {
		line := d.lines[n]
		if line == "" {
			line = n + ": waiting"
		}
		b.WriteString("\x1b[2K" + line + "\n")
	}
	d.drawn = len(d.names)
	io.WriteString(d.w, b.String())
}
