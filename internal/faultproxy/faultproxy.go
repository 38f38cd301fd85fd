// Package faultproxy is a fault-injecting TCP proxy for tests: it listens on
// 127.0.0.1, forwards every accepted connection to one target address and
// can delay, throttle, slice, cut, reset or swallow what passes through.
//
// Faults apply to the server-to-client direction (the one an event stream
// flows in), except Latency, which delays both. They can be set for the
// whole proxy (SetFaults) or for one connection (Conn.SetFaults, typically
// from the OnAccept hook, which sees connections numbered from 1), and they
// can be changed while connections are live: each forwarded chunk reads the
// faults in force at that moment.
//
// Every goroutine the proxy starts has exited when Close returns.
package faultproxy

// This file holds the Faults a connection can suffer and the Proxy: its
// listener, accept loop and the set of live connections. One connection is
// in conn.go, the forwarding through the faults in forward.go.

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Faults describes what a proxied connection suffers. The zero value
// forwards everything untouched.
type Faults struct {
	// Latency holds every chunk read, in either direction, this long
	// before it is forwarded. 0: no delay.
	Latency time.Duration

	// BytesPerSecond limits the server-to-client rate. 0: unlimited.
	BytesPerSecond int64

	// SliceSize splits server-to-client data into writes of at most this
	// many bytes, with SliceDelay after each. 0: writes as read.
	SliceSize  int
	SliceDelay time.Duration

	// CutAfter closes the connection (both sides) once this many
	// server-to-client bytes have been forwarded; the bytes after the
	// cut are never delivered. 0: never.
	CutAfter int64

	// Reset makes the proxy close the client side with a TCP RST
	// (SetLinger(0)) instead of a FIN: at the cut when CutAfter > 0,
	// otherwise at once on accept, before any byte is forwarded.
	Reset bool

	// Blackhole accepts the connection and never answers: the target is
	// not dialled and the client's bytes are read and dropped until the
	// client or the proxy closes the connection.
	Blackhole bool

	// BlackholeAfterHeaders forwards server-to-client bytes up to and
	// including the first "\r\n\r\n" (the end of an HTTP/1.1 response
	// header) and drops everything after it, while the connection stays
	// open. The target is still read, so it never blocks.
	BlackholeAfterHeaders bool
}

// Proxy is a running fault-injecting proxy. Its methods are safe for
// concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	faults atomic.Pointer[Faults]

	mu       sync.Mutex
	hook     func(*Conn)
	conns    map[*Conn]struct{}
	accepted int
	closed   bool

	wg sync.WaitGroup
}

// New starts a proxy listening on 127.0.0.1 (a free port) that forwards
// to target, a host:port. It fails only when it cannot listen.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[*Conn]struct{})}
	p.faults.Store(&Faults{})
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr returns the address the proxy listens on, as host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetFaults sets the faults of every connection that has none of its own,
// live ones included (from their next chunk on).
func (p *Proxy) SetFaults(f Faults) { p.faults.Store(&f) }

// Faults returns the proxy-wide faults.
func (p *Proxy) Faults() Faults { return *p.faults.Load() }

// OnAccept sets a hook called for every accepted connection before
// anything is forwarded (and before the target is dialled), typically to
// give it its own faults by number. It runs on the accept goroutine: it
// must not block. nil removes the hook.
func (p *Proxy) OnAccept(hook func(*Conn)) {
	p.mu.Lock()
	p.hook = hook
	p.mu.Unlock()
}

// Accepted returns how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Live returns the connections that are open now.
func (p *Proxy) Live() []*Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := make([]*Conn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	return cs
}

// CloseConns closes every live connection (both sides, with a FIN), as a
// restarting server would, and returns how many it closed. The proxy keeps
// accepting.
func (p *Proxy) CloseConns() int {
	cs := p.Live()
	for _, c := range cs {
		c.Close()
	}
	return len(cs)
}

// Close stops accepting, closes every live connection and waits until all
// of the proxy's goroutines have exited. It returns nil when called again.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.CloseConns()
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors or a transient error: back off a
			// little instead of spinning, as net/http's Server does.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return
		}
		p.accepted++
		c := &Conn{n: p.accepted, p: p, client: nc, closing: make(chan struct{}), done: make(chan struct{})}
		p.conns[c] = struct{}{}
		hook := p.hook
		p.wg.Add(1)
		p.mu.Unlock()
		if hook != nil {
			hook(c)
		}
		go c.run()
	}
}
