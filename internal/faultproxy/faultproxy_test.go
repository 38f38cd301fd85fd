package faultproxy

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// target is a TCP server for the proxy to forward to; handle runs once per
// accepted connection, which is closed when handle returns.
type target struct {
	ln       net.Listener
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	wg       sync.WaitGroup
}

func newTarget(t *testing.T, handle func(net.Conn)) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tg := &target{ln: ln, conns: make(map[net.Conn]struct{})}
	tg.wg.Add(1)
	go func() {
		defer tg.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.mu.Lock()
			tg.conns[c] = struct{}{}
			tg.accepted++
			tg.mu.Unlock()
			tg.wg.Add(1)
			go func() {
				defer tg.wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		tg.mu.Lock()
		for c := range tg.conns {
			c.Close()
		}
		tg.mu.Unlock()
		tg.wg.Wait()
	})
	return tg
}

func (tg *target) Accepted() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.accepted
}

// sender writes payload and then waits for the peer to close.
func sender(payload []byte) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := c.Write(payload); err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}
}

// echo copies back what it reads.
func echo(c net.Conn) { io.Copy(c, c) }

func newProxy(t *testing.T, tg *target) *Proxy {
	t.Helper()
	p, err := New(tg.ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// readAll reads until EOF or error, with an overall deadline.
func readAll(t *testing.T, c net.Conn, within time.Duration) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	var buf bytes.Buffer
	_, err := io.Copy(&buf, c)
	return buf.Bytes(), err
}

func TestPassThrough(t *testing.T) {
	tg := newTarget(t, echo)
	p := newProxy(t, tg)
	c := dial(t, p)
	want := payload(100 << 10)
	go func() { c.Write(want) }()
	got := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(got, want), "echoed bytes differ")
	require.Equal(t, 1, p.Accepted(), "accepted proxy=%d target=%d, want 1 and 1", p.Accepted(), tg.Accepted())
	require.Equal(t, 1, tg.Accepted(), "accepted proxy=%d target=%d, want 1 and 1", p.Accepted(), tg.Accepted())
}

func TestLatency(t *testing.T) {
	tg := newTarget(t, echo)
	p := newProxy(t, tg)
	p.SetFaults(Faults{Latency: 50 * time.Millisecond})
	c := dial(t, p)
	start := time.Now()
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadFull(c, make([]byte, 1))
	require.NoError(t, err)
	// One delay each way.
	rtt := time.Since(start)
	require.GreaterOrEqual(t, rtt, 100*time.Millisecond, "round trip %v, want >= 100ms", rtt)
}

func TestBandwidth(t *testing.T) {
	const n, bps = 20 << 10, 100 << 10 // 0.2 s worth
	tg := newTarget(t, sender(payload(n)))
	p := newProxy(t, tg)
	p.SetFaults(Faults{BytesPerSecond: bps})
	c := dial(t, p)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, n)
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	el := time.Since(start)
	// The last 1/50 s is not waited for before the bytes arrive.
	min := time.Duration(n)*time.Second/bps - 20*time.Millisecond
	require.GreaterOrEqual(t, el, min, "%d bytes at %d B/s took %v, want >= %v", n, bps, el, min)
	require.True(t, bytes.Equal(got, payload(n)), "bytes differ")
	t.Logf("%d bytes at %d B/s: %v", n, bps, el)
}

func TestSlices(t *testing.T) {
	const n = 40
	tg := newTarget(t, sender(payload(n)))
	p := newProxy(t, tg)
	p.SetFaults(Faults{SliceSize: 1, SliceDelay: 5 * time.Millisecond})
	c := dial(t, p)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	var got []byte
	reads := 0
	buf := make([]byte, 64)
	for len(got) < n {
		k, err := c.Read(buf)
		if k > 0 {
			reads++
			got = append(got, buf[:k]...)
		}
		require.NoError(t, err)
	}
	el := time.Since(start)
	require.True(t, bytes.Equal(got, payload(n)), "bytes differ")
	min := (n - 1) * 5 * time.Millisecond
	require.GreaterOrEqual(t, el, min, "%d one-byte slices took %v, want >= %v", n, el, min)
	// A reader that keeps up sees most slices as separate reads; a noisy
	// machine may merge a few.
	require.GreaterOrEqual(t, reads, n/2, "%d reads for %d one-byte slices", reads, n)
	t.Logf("%d bytes in %d reads over %v", n, reads, el)
}

func TestCutPerConnection(t *testing.T) {
	const n, k = 1000, 137
	tg := newTarget(t, sender(payload(n)))
	p := newProxy(t, tg)
	p.OnAccept(func(c *Conn) {
		if c.N() == 1 {
			c.SetFaults(Faults{CutAfter: k})
		}
	})
	c1 := dial(t, p)
	got, err := readAll(t, c1, 10*time.Second)
	require.NoError(t, err, "conn 1: %v after %d bytes, want EOF at the cut", err, len(got))
	require.True(t, bytes.Equal(got, payload(n)[:k]), "conn 1: got %d bytes, want the first %d", len(got), k)
	c2 := dial(t, p)
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	got = make([]byte, n)
	_, err = io.ReadFull(c2, got)
	require.NoError(t, err, "conn 2: %v", err)
	require.True(t, bytes.Equal(got, payload(n)), "conn 2: bytes differ")
}

func TestCutWithReset(t *testing.T) {
	// The target answers only after the client spoke, so that the reset
	// cannot come before the dial completes.
	tg := newTarget(t, func(c net.Conn) {
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			return
		}
		sender(payload(1000))(c)
	})
	p := newProxy(t, tg)
	p.SetFaults(Faults{CutAfter: 10, Reset: true})
	c := dial(t, p)
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	got, err := readAll(t, c, 10*time.Second)
	require.ErrorIs(t, err, syscall.ECONNRESET, "got %d bytes and %v, want ECONNRESET", len(got), err)
	require.LessOrEqual(t, len(got), 10, "got %d bytes past a cut at 10", len(got))
}

func TestResetOnAccept(t *testing.T) {
	tg := newTarget(t, sender(payload(10)))
	p := newProxy(t, tg)
	p.SetFaults(Faults{Reset: true})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		// The reset may beat the end of connect on loopback.
		require.ErrorIs(t, err, syscall.ECONNRESET, "dial: %v, want success or ECONNRESET", err)
	} else {
		defer c.Close()
		got, err := readAll(t, c, 10*time.Second)
		require.ErrorIs(t, err, syscall.ECONNRESET, "got %d bytes and %v, want ECONNRESET and nothing", len(got), err)
		require.Len(t, got, 0, "got %d bytes and %v, want ECONNRESET and nothing", len(got), err)
	}
	require.Equal(t, 0, tg.Accepted(), "target accepted %d connections, want 0", tg.Accepted())
}

func TestBlackhole(t *testing.T) {
	tg := newTarget(t, sender(payload(10)))
	p := newProxy(t, tg)
	p.SetFaults(Faults{Blackhole: true})
	c := dial(t, p)
	_, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	got, err := readAll(t, c, 200*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "got %d bytes and %v, want nothing until the deadline", len(got), err)
	require.Len(t, got, 0, "got %d bytes and %v, want nothing until the deadline", len(got), err)
	require.Equal(t, 0, tg.Accepted(), "target accepted %d connections, want 0", tg.Accepted())
}

func TestBlackholeAfterHeaders(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
	// The body comes in the same write as the header, and again later.
	tg := newTarget(t, func(c net.Conn) {
		c.Write([]byte(head + "data: 1\n\n"))
		c.Write([]byte("data: 2\n\n"))
		io.Copy(io.Discard, c)
	})
	p := newProxy(t, tg)
	// Split the header terminator across writes too.
	p.SetFaults(Faults{BlackholeAfterHeaders: true, SliceSize: 3})
	c := dial(t, p)
	got, err := readAll(t, c, 300*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "read ended with %v, want a deadline", err)
	require.Equal(t, head, string(got), "got %q, want just the header", got)
}

func TestHeaderEndScan(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want int // total prefix length, -1 if none
	}{
		{[]string{"a\r\n\r\nb"}, 5},
		{[]string{"a\r", "\n\r", "\nb"}, 5},
		{[]string{"\r\r\n\r\n"}, 5},
		{[]string{"\r\n\r\r\n\r\n"}, 7},
		{[]string{"\n\n\r\n"}, -1},
	} {
		var h headerEnd
		total, at := 0, -1
		for _, s := range tc.in {
			if i := h.scan([]byte(s)); i >= 0 && at < 0 {
				at = total + i
			}
			total += len(s)
		}
		assert.Equal(t, tc.want, at, "%q: end at %d, want %d", tc.in, at, tc.want)
	}
}

func TestFaultsChangeWhileLive(t *testing.T) {
	tg := newTarget(t, echo)
	p := newProxy(t, tg)
	c := dial(t, p)
	buf := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello"))
	_, err := io.ReadFull(c, buf)
	require.NoError(t, err)
	live := p.Live()
	require.Len(t, live, 1, "%d live conns, want 1", len(live))
	// Cut this live connection 3 bytes further on.
	live[0].SetFaults(Faults{CutAfter: 8})
	c.Write([]byte("world"))
	got, err := readAll(t, c, 10*time.Second)
	require.NoError(t, err, "got %q, %v; want \"wor\" then EOF", got, err)
	require.Equal(t, "wor", string(got), "got %q, %v; want \"wor\" then EOF", got, err)
	select {
	case <-live[0].Done():
	case <-time.After(10 * time.Second):
		require.Fail(t, "connection not done after the cut")
	}
	d, u := live[0].BytesDown(), live[0].BytesUp()
	require.Equal(t, int64(8), d, "forwarded %d bytes down and %d up, want 8 and 10", d, u)
	require.Equal(t, int64(10), u, "forwarded %d bytes down and %d up, want 8 and 10", d, u)
}

func TestCloseConnsKeepsAccepting(t *testing.T) {
	tg := newTarget(t, echo)
	p := newProxy(t, tg)
	c1 := dial(t, p)
	c1.Write([]byte("x"))
	c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.ReadFull(c1, make([]byte, 1))
	require.NoError(t, err)
	n := p.CloseConns()
	require.Equal(t, 1, n, "CloseConns closed %d, want 1", n)
	_, err = readAll(t, c1, 10*time.Second)
	require.NoError(t, err, "conn 1 after CloseConns: %v, want EOF", err)
	c2 := dial(t, p)
	c2.Write([]byte("y"))
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadFull(c2, make([]byte, 1))
	require.NoError(t, err, "conn 2: %v", err)
}

// TestCloseFromEveryState closes the proxy while connections sit in each
// blocking state; Close must return promptly and leave no goroutine (the
// package's TestMain checks the latter).
func TestCloseFromEveryState(t *testing.T) {
	// The target writes until the connection breaks, so that the last
	// client, which never reads, leaves the proxy blocked in Write.
	tg := newTarget(t, func(c net.Conn) {
		go io.Copy(io.Discard, c)
		b := payload(64 << 10)
		for {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
	p, err := New(tg.ln.Addr().String())
	require.NoError(t, err)
	states := []Faults{
		{Blackhole: true},
		{BlackholeAfterHeaders: true},
		{Latency: time.Hour},
		{SliceSize: 1, SliceDelay: time.Hour},
		{BytesPerSecond: 1},
		{}, // client never reads: the proxy blocks in Write
	}
	opened := make(chan *Conn, len(states))
	p.OnAccept(func(c *Conn) {
		c.SetFaults(states[c.N()-1])
		opened <- c
	})
	var clients []net.Conn
	for range states {
		c, err := net.Dial("tcp", p.Addr())
		require.NoError(t, err)
		clients = append(clients, c)
		<-opened
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	start := time.Now()
	require.NoError(t, p.Close())
	el := time.Since(start)
	require.LessOrEqual(t, el, time.Second, "Close took %v", el)
	err = p.Close()
	require.NoError(t, err, "second Close: %v", err)
	for i, c := range clients {
		if _, err := readAll(t, c, 10*time.Second); err != nil {
			assert.ErrorIs(t, err, syscall.ECONNRESET, "client %d after Close: %v, want EOF", i+1, err)
		}
	}
}
