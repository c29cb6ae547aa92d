package main

import (
	"bytes"
	"testing"

	"github.com/deckhand/deckhand/stack/deploy"
)

func TestWaitDisplayRedrawsBarsOnATerminal(t *testing.T) {
	var b bytes.Buffer
	d := &waitDisplay{w: &b, tty: true, lines: map[string]string{}}
	d.Waiting([]string{"s_a", "s_b"})
	d.Status(deploy.ServiceStatus{Name: "s_a", Ready: 1, Desired: 2, Phase: "running"})
	d.Status(deploy.ServiceStatus{Name: "s_b", Ready: 2, Desired: 2, Phase: "running"})
	want := "\x1b[2Ks_a [==========          ] 1/2 running\n\x1b[2Ks_b: waiting\n" +
		"\x1b[2A\x1b[2Ks_a [==========          ] 1/2 running\n\x1b[2Ks_b [====================] 2/2 running\n"
	if b.String() != want {
		t.Errorf("terminal output = %q, want %q", b.String(), want)
	}
	var plain bytes.Buffer
	p := newWaitDisplay(&plain)
	p.Waiting([]string{"s_a"})
	p.Status(deploy.ServiceStatus{Name: "s_a", Ready: 1, Desired: 2, Phase: "running"})
	p.Status(deploy.ServiceStatus{Name: "s_a", Ready: 1, Desired: 2, Phase: "running", Pending: "no suitable node"})
	p.Finished(deploy.ServiceOutcome{Name: "s_a", Outcome: deploy.OutcomeTimedOut, Message: "last task error: boom", Duration: 1234567890})
	if want := "s_a: 1/2 running\ns_a: 1/2 running (pending: no suitable node)\ns_a: timed out after 1.2s: last task error: boom\n"; plain.String() != want {
		t.Errorf("pipe output = %q, want %q", plain.String(), want)
	}
}
