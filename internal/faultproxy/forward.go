package faultproxy

// This file holds the forwarding of a connection's bytes in both
// directions and how each fault shapes the server-to-client stream.

import (
	"net"
	"time"
)

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
