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

import (
	"errors"
	"io"
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

// Conn is one proxied connection. Its methods are safe for concurrent use.
type Conn struct {
	n      int
	p      *Proxy
	client net.Conn
	own    atomic.Pointer[Faults]
	down   atomic.Int64 // server-to-client bytes forwarded
	up     atomic.Int64 // client-to-server bytes forwarded

	mu       sync.Mutex
	upstream net.Conn // nil until dialled
	closed   bool
	closing  chan struct{} // closed by shut: interrupts waits
	done     chan struct{} // closed when the connection's goroutines exit
}

// N returns the connection's number: 1 for the proxy's first accepted
// connection.
func (c *Conn) N() int { return c.n }

// SetFaults gives the connection its own faults, replacing the proxy-wide
// ones for it from its next chunk on.
func (c *Conn) SetFaults(f Faults) { c.own.Store(&f) }

// Faults returns the faults in force for the connection now.
func (c *Conn) Faults() Faults {
	if f := c.own.Load(); f != nil {
		return *f
	}
	return *c.p.faults.Load()
}

// BytesDown returns how many server-to-client bytes have been forwarded.
func (c *Conn) BytesDown() int64 { return c.down.Load() }

// BytesUp returns how many client-to-server bytes have been forwarded.
func (c *Conn) BytesUp() int64 { return c.up.Load() }

// Done is closed when the connection has been closed and is no longer
// forwarding; the byte counts are final then.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Close closes both sides of the connection with a FIN.
func (c *Conn) Close() { c.shut(false) }

// Reset closes both sides, the client side with a TCP RST.
func (c *Conn) Reset() { c.shut(true) }

func (c *Conn) shut(reset bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	up := c.upstream
	c.mu.Unlock()
	if reset {
		if tc, ok := c.client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	c.client.Close()
	if up != nil {
		up.Close()
	}
	close(c.closing)
}

// wait sleeps for d, or until the connection closes; it reports whether
// the connection is still open.
func (c *Conn) wait(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-c.closing:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closing:
		return false
	}
}

func (c *Conn) run() {
	defer c.p.wg.Done()
	defer func() {
		c.shut(false)
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
		close(c.done)
	}()

	f := c.Faults()
	if f.Reset && f.CutAfter <= 0 && !f.Blackhole {
		c.shut(true)
		return
	}
	if f.Blackhole {
		io.Copy(io.Discard, c.client)
		return
	}
	d := net.Dialer{}
	up, err := d.Dial("tcp", c.p.target)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		up.Close()
		return
	}
	c.upstream = up
	c.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.pumpUp(up)
	}()
	c.pumpDown(up)
	wg.Wait()
}

// pumpUp forwards client-to-server bytes; the client closing ends the
// whole connection.
func (c *Conn) pumpUp(up net.Conn) {
	defer c.shut(false)
	buf := make([]byte, 32<<10)
	for {
		n, err := c.client.Read(buf)
		if n > 0 {
			f := c.Faults()
			if !c.wait(f.Latency) {
				return
			}
			if f.Blackhole {
				continue // turned into a blackhole while live: drop
			}
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
			c.up.Add(int64(n))
		}
		if err != nil {
			return
		}
	}
}

// pumpDown forwards server-to-client bytes through the faults. When it
// stops forwarding because of a blackhole it keeps draining the target
// and leaves the client open; otherwise it closes the connection.
func (c *Conn) pumpDown(up net.Conn) {
	buf := make([]byte, 32<<10)
	var hdr headerEnd
	swallowing := false
	for {
		n, err := up.Read(buf)
		if n > 0 && !swallowing {
			var ok bool
			ok, swallowing = c.forwardDown(buf[:n], &hdr)
			if !ok {
				c.shut(c.cutReset())
				return
			}
		}
		if err != nil {
			if !swallowing {
				c.shut(false)
			}
			return
		}
	}
}

// cutReset reports whether a cut should reset the client side.
func (c *Conn) cutReset() bool { return c.Faults().Reset }

// forwardDown writes b to the client through the faults in force. ok is
// false when the connection must close (cut, write error, closed);
// swallow is true once a blackhole started dropping the stream.
func (c *Conn) forwardDown(b []byte, hdr *headerEnd) (ok, swallow bool) {
	f := c.Faults()
	if !c.wait(f.Latency) {
		return false, false
	}
	for len(b) > 0 {
		f = c.Faults()
		if f.Blackhole {
			return true, true
		}
		chunk := b
		if f.BlackholeAfterHeaders && hdr.done {
			return true, true
		}
		if f.CutAfter > 0 {
			rem := f.CutAfter - c.down.Load()
			if rem <= 0 {
				return false, false
			}
			if int64(len(chunk)) > rem {
				chunk = chunk[:rem]
			}
		}
		if f.SliceSize > 0 && len(chunk) > f.SliceSize {
			chunk = chunk[:f.SliceSize]
		}
		if f.BytesPerSecond > 0 {
			// Write at most 1/50 s worth at a time, so the rate holds
			// at a fine grain.
			max := f.BytesPerSecond / 50
			if max < 1 {
				max = 1
			}
			if int64(len(chunk)) > max {
				chunk = chunk[:max]
			}
		}
		// The scanner runs in every mode, so that a blackhole switched on
		// later in the stream still knows where the header ended.
		if i := hdr.scan(chunk); i >= 0 && f.BlackholeAfterHeaders {
			chunk = chunk[:i]
		}
		n, err := c.client.Write(chunk)
		c.down.Add(int64(n))
		if err != nil {
			return false, false
		}
		b = b[n:]
		if f.BytesPerSecond > 0 {
			if !c.wait(time.Duration(int64(n) * int64(time.Second) / f.BytesPerSecond)) {
				return false, false
			}
		}
		if f.SliceSize > 0 && f.SliceDelay > 0 {
			if !c.wait(f.SliceDelay) {
				return false, false
			}
		}
		if f.CutAfter > 0 && c.down.Load() >= f.CutAfter {
			return false, false
		}
	}
	return true, false
}

// headerEnd finds the first "\r\n\r\n" in a byte stream fed in pieces.
type headerEnd struct {
	matched int // bytes of "\r\n\r\n" matched so far
	done    bool
}

// scan feeds p and returns the length of the prefix of p that ends with
// the header terminator, or -1 when p does not complete it (or it was
// complete before p).
func (h *headerEnd) scan(p []byte) int {
	if h.done {
		return -1
	}
	const term = "\r\n\r\n"
	for i, b := range p {
		switch {
		case b == term[h.matched]:
			h.matched++
		case b == '\r':
			h.matched = 1
		default:
			h.matched = 0
		}
		if h.matched == len(term) {
			h.done = true
			return i + 1
		}
	}
	return -1
}
