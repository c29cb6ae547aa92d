package testbed

import (
	"io"
	"log/slog"
	"net"
	"sync"
)

// forwarder relays TCP connections from a listener to a fixed address: it
// makes the host's registry on 127.0.0.1:5000 reachable from the nodes at
// 10.99.0.1:5000.
type forwarder struct {
	ln     net.Listener
	target string
	log    *slog.Logger
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// forward listens on listen and relays every connection to target.
func forward(listen, target string, log *slog.Logger) (*forwarder, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	f := &forwarder{ln: ln, target: target, log: log, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

func (f *forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.relay(c)
	}
}

// track records c so Close can cut it; it reports false once closed.
func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	_ = c.Close()
}

func (f *forwarder) relay(in net.Conn) {
	defer f.wg.Done()
	if !f.track(in) {
		_ = in.Close()
		return
	}
	defer f.untrack(in)
	out, err := net.Dial("tcp", f.target)
	if err != nil {
		f.log.Warn("forward: dial target", "target", f.target, "err", err)
		return
	}
	if !f.track(out) {
		_ = out.Close()
		return
	}
	defer f.untrack(out)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

// Close stops listening, cuts open connections and waits for the relays.
func (f *forwarder) Close() error {
	err := f.ln.Close()
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return err
}
