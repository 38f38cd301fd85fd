package faultproxy

// This file holds one proxied connection, Conn: its faults and byte
// counts, how it closes, and its life from accept to done.

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

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
