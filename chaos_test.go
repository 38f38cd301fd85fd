package sse_test

// Chaos tests: the client against a network and servers that misbehave,
// through internal/faultproxy. Each test logs a measured figure. The full
// sizes run without -short; see the command at the top of load_test.go.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssekit/sse"
	"github.com/ssekit/sse/internal/faultproxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seqServer serves the events 1..n of one stream and honours Last-Event-ID:
// a request resuming after id k gets k+1..n, and one resuming after n
// gets 204, which ends the client's Stream. It records the Last-Event-ID
// of every request.
type seqServer struct {
	n int
	// render returns the wire text of event id, served by request req
	// (numbered from 1).
	render func(req, id int) string
	// prefix is written at the start of every 200 body.
	prefix string

	mu   sync.Mutex
	reqs []string // the Last-Event-ID header of each request, in order
}

func (s *seqServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	last := r.Header.Get("Last-Event-ID")
	s.mu.Lock()
	s.reqs = append(s.reqs, last)
	req := len(s.reqs)
	s.mu.Unlock()
	from := 1
	if last != "" {
		k, err := strconv.Atoi(last)
		if err != nil {
			http.Error(w, "bad Last-Event-ID", http.StatusBadRequest)
			return
		}
		from = k + 1
	}
	if from > s.n {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, s.prefix)
	for id := from; id <= s.n; id++ {
		if _, err := io.WriteString(w, s.render(req, id)); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
}

func (s *seqServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

// plainEvent renders event id with its request number in the data, so that a
// test can tell which connection delivered it.
func plainEvent(req, id int) string {
	return fmt.Sprintf("id: %d\nevent: tick\ndata: r%d\ndata: event %d of the sequence\n\n", id, req, id)
}

// mixedEvent renders event id with every line ending, a comment, a field
// the parser ignores and multi-byte UTF-8, so that 1-byte slices split
// CRLF pairs and code points.
func mixedEvent(req, id int) string {
	return fmt.Sprintf(": keep-alive %d\r\nid: %d\r\nevent: mixed\rdata: é€😀 %d\ndata:\r\nunknown: x\n\r\n", id, id, id)
}

// newProxy starts a fault proxy to srv that is closed at the end of t.
func newProxy(t testing.TB, srv *httptest.Server) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// collectEvents receives until the stream's channel closes.
func collectEvents(t testing.TB, s *sse.Stream, within time.Duration) []sse.Event {
	t.Helper()
	var evs []sse.Event
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-timeout.C:
			require.Fail(t, fmt.Sprintf("stream still open after %v with %d events (last ID %q)", within, len(evs), s.LastEventID()))
		}
	}
}

// chaosSeed returns the seed of a test's random choices: SSE_CHAOS_SEED if
// set, else a fresh one; it is logged so that a failure can be replayed.
func chaosSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SSE_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "SSE_CHAOS_SEED=%q: %v", v, err)
		seed = s
	}
	t.Logf("seed %d (replay with SSE_CHAOS_SEED=%d)", seed, seed)
	return seed
}

// TestChaosCutMidEvent cuts the first connection after a random number of
// bytes, anywhere in the response (headers, chunk framing, mid-line,
// mid-event), many times. Every run must deliver 1..n exactly once and in
// order, and every resuming request must carry the ID of the last event
// the client had dispatched.
func TestChaosCutMidEvent(t *testing.T) {
	runs := 100
	if testing.Short() {
		runs = 20
	}
	const n = 20
	rng := rand.New(rand.NewPCG(chaosSeed(t), 0))

	// One clean run measures the length of the first response on the wire.
	total := func() int64 {
		seq := &seqServer{n: n, render: plainEvent}
		srv := newServer(t, seq)
		p := newProxy(t, srv)
		first := make(chan *faultproxy.Conn, 1)
		p.OnAccept(func(c *faultproxy.Conn) {
			if c.N() == 1 {
				first <- c
			}
		})
		s, err := fastRetryClient(noKeepAliveTransport(t)).Connect(testContext(t), "http://"+p.Addr()+"/")
		require.NoError(t, err)
		defer s.Close()
		evs := collectEvents(t, s, 30*time.Second)
		require.Len(t, evs, n, "clean run: %d events, want %d", len(evs), n)
		c := <-first
		<-c.Done()
		return c.BytesDown()
	}()

	var gaps, dups, disorder, badResume, inHeaders, resumed int
	start := time.Now()
	for run := 0; run < runs; run++ {
		cut := 1 + rng.Int64N(total-1)
		seq := &seqServer{n: n, render: plainEvent}
		srv := newServer(t, seq)
		p := newProxy(t, srv)
		p.OnAccept(func(c *faultproxy.Conn) {
			if c.N() == 1 {
				c.SetFaults(faultproxy.Faults{CutAfter: cut})
			}
		})
		s, err := fastRetryClient(noKeepAliveTransport(t)).Connect(testContext(t), "http://"+p.Addr()+"/")
		require.NoError(t, err, "cut at %d: Connect: %v", cut, err)
		evs := collectEvents(t, s, 30*time.Second)
		s.Close()
		err = s.Err()
		assert.NoError(t, err, "cut at %d: Err() = %v after the 204, want nil", cut, err)

		// Sequence: 1..n, once each, in order.
		seen := make(map[int]bool)
		next := 1
		lastBefore := make(map[int]string) // request -> last ID dispatched before it began
		lastID := ""
		req := 1
		for _, ev := range evs {
			id, _ := strconv.Atoi(ev.ID)
			var r int
			fmt.Sscanf(ev.Data, "r%d", &r)
			if seen[id] {
				dups++
			}
			seen[id] = true
			if id != next {
				disorder++
			}
			next = id + 1
			for ; req < r; req++ {
				lastBefore[req+1] = lastID
			}
			lastID = ev.ID
		}
		for id := 1; id <= n; id++ {
			if !seen[id] {
				gaps++
			}
		}
		// Resumption: request k (k >= 2) carries the ID of the last event
		// dispatched before it; the final 204 request carries n.
		reqs := seq.requests()
		for ; req < len(reqs); req++ {
			lastBefore[req+1] = lastID
		}
		assert.Equal(t, "", reqs[0], "cut at %d: first request sent Last-Event-ID %q", cut, reqs[0])
		for k := 2; k <= len(reqs); k++ {
			if reqs[k-1] != lastBefore[k] {
				badResume++
				assert.Fail(t, fmt.Sprintf("cut at %d: request %d sent Last-Event-ID %q, want %q (the last dispatched)", cut, k, reqs[k-1], lastBefore[k]))
			}
		}
		assert.Equal(t, strconv.Itoa(n), reqs[len(reqs)-1], "cut at %d: last request sent %q, want %d", cut, reqs[len(reqs)-1], n)
		switch {
		case len(reqs) > 1 && reqs[1] == "":
			inHeaders++ // nothing dispatched before the cut
		case len(reqs) > 2:
			resumed++
		}
		require.False(t, t.Failed(), "cut at byte %d of %d: events %v, requests %q", cut, total, evs, reqs)
		p.Close()
		srv.Close()
	}
	t.Logf("%d cuts over a %d-byte response (%d events) in %v: %d gaps, %d duplicates, %d out of order, %d bad resumes; %d resumed mid-stream, %d cut before the first event",
		runs, total, n, time.Since(start).Round(time.Millisecond), gaps, dups, disorder, badResume, resumed, inHeaders)
	require.LessOrEqual(t, gaps+dups+disorder+badResume, 0, "%d gaps, %d duplicates, %d out of order, %d bad resumes", gaps, dups, disorder, badResume)
}

// TestChaosOneByteSlices delivers a stream one byte at a time, 1 ms
// apart (splitting CRLF pairs and UTF-8 code points between reads), and
// compares the events with those of the same stream delivered whole.
func TestChaosOneByteSlices(t *testing.T) {
	n := 12
	if testing.Short() {
		n = 6
	}
	run := func(f faultproxy.Faults) ([]sse.Event, int64, time.Duration) {
		seq := &seqServer{n: n, render: mixedEvent, prefix: "\uFEFF: after a BOM\n\n"}
		srv := newServer(t, seq)
		p := newProxy(t, srv)
		p.SetFaults(f)
		first := make(chan *faultproxy.Conn, 1)
		p.OnAccept(func(c *faultproxy.Conn) {
			if c.N() == 1 {
				first <- c
			}
		})
		start := time.Now()
		s, err := fastRetryClient(noKeepAliveTransport(t)).Connect(testContext(t), "http://"+p.Addr()+"/")
		require.NoError(t, err)
		defer s.Close()
		evs := collectEvents(t, s, 60*time.Second)
		el := time.Since(start)
		reqs := seq.requests()
		assert.Len(t, reqs, 2, "%d requests %q, want 2 (the stream, then the 204)", len(reqs), reqs)
		c := <-first
		<-c.Done()
		return evs, c.BytesDown(), el
	}
	whole, size, wholeTook := run(faultproxy.Faults{})
	sliced, _, slicedTook := run(faultproxy.Faults{SliceSize: 1, SliceDelay: time.Millisecond})
	require.Len(t, whole, n, "whole run: %d events, want %d", len(whole), n)
	diff := 0
	for i := range max(len(whole), len(sliced)) {
		if i >= len(whole) || i >= len(sliced) || whole[i] != sliced[i] {
			diff++
		}
	}
	t.Logf("%d events, %d bytes: whole in %v, as 1-byte slices 1ms apart in %v; %d events differ",
		n, size, wholeTook.Round(time.Millisecond), slicedTook.Round(time.Millisecond), diff)
	require.LessOrEqual(t, diff, 0, "sliced run differs:\nwhole  %q\nsliced %q", whole, sliced)
	require.GreaterOrEqual(t, slicedTook, time.Duration(size)*time.Millisecond, "sliced run took %v for %d bytes: the slices were not applied", slicedTook, size)
}

// TestChaosSlowloris reads a server that sends one byte every 200 ms: no
// idle timeout may fire (bytes do arrive), the heap must not grow, and
// Close must return promptly while a byte is pending.
func TestChaosSlowloris(t *testing.T) {
	dur := 4 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	const every = 200 * time.Millisecond
	const ev = "data:s\n\n" // 8 bytes: one event every 1.6 s
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
			if _, err := w.Write([]byte{ev[i%len(ev)]}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	var mu sync.Mutex
	var attempts []sse.Attempt
	c := fastRetryClient(noKeepAliveTransport(t))
	c.IdleTimeout = 5 * every
	c.OnAttempt = func(a sse.Attempt) {
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
	}
	before := liveHeap()
	s, err := c.Connect(testContext(t), srv.URL)
	require.NoError(t, err)
	got := 0
	deadline := time.NewTimer(dur)
	defer deadline.Stop()
loop:
	for {
		select {
		case e, ok := <-s.Events():
			require.True(t, ok, "stream ended: %v", s.Err())
			require.Equal(t, "s", e.Data, "event %q, want \"s\"", e.Data)
			got++
		case <-deadline.C:
			break loop
		}
	}
	grew := int64(liveHeap()) - int64(before)
	start := time.Now()
	s.Close()
	closeTook := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%v at 1 byte per %v: %d events, %d attempts, heap growth %d bytes, Close took %v",
		dur, every, got, len(attempts), grew, closeTook.Round(time.Microsecond))
	if assert.Len(t, attempts, 1, "attempts %+v, want one that opened (a false idle timeout reconnects)", attempts) {
		assert.NoError(t, attempts[0].Err, "attempts %+v, want one that opened (a false idle timeout reconnects)", attempts)
	}
	want := max(1, int(dur/(every*time.Duration(len(ev))))-1)
	assert.GreaterOrEqual(t, got, want, "%d events in %v, want about %d", got, dur, want)
	assert.Less(t, grew, int64(1<<20), "heap grew by %d bytes, want < 1 MiB", grew)
	assert.LessOrEqual(t, closeTook, time.Second, "Close took %v, want < 1s", closeTook)
}

// TestChaosNoResponseHeaders sends the first attempt to a server that
// accepts and never answers: it must fail after the transport's
// response-header timeout and be retried, and the retry must open.
func TestChaosNoResponseHeaders(t *testing.T) {
	const rht = 300 * time.Millisecond
	seq := &seqServer{n: 3, render: plainEvent}
	srv := newServer(t, seq)
	p := newProxy(t, srv)
	p.OnAccept(func(c *faultproxy.Conn) {
		if c.N() == 1 {
			c.SetFaults(faultproxy.Faults{Blackhole: true})
		}
	})
	tr := noKeepAliveTransport(t)
	tr.ResponseHeaderTimeout = rht
	c := fastRetryClient(tr)
	type at struct {
		a  sse.Attempt
		at time.Duration
	}
	var mu sync.Mutex
	var attempts []at
	start := time.Now()
	c.OnAttempt = func(a sse.Attempt) {
		mu.Lock()
		attempts = append(attempts, at{a, time.Since(start)})
		mu.Unlock()
	}
	s, err := c.Connect(testContext(t), "http://"+p.Addr()+"/")
	require.NoError(t, err)
	evs := collectEvents(t, s, 30*time.Second)
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(attempts), 2, "attempts %+v, want a failure then an open", attempts)
	require.Error(t, attempts[0].a.Err, "attempts %+v, want a failure then an open", attempts)
	require.NoError(t, attempts[1].a.Err, "attempts %+v, want a failure then an open", attempts)
	failedAt := attempts[0].at
	t.Logf("response-header timeout %v: first attempt failed after %v (%v), retry opened after %v; %d events",
		rht, failedAt.Round(time.Millisecond), attempts[0].a.Err, attempts[1].at.Round(time.Millisecond), len(evs))
	assert.GreaterOrEqual(t, failedAt, rht, "first attempt failed after %v, want about %v", failedAt, rht)
	assert.LessOrEqual(t, failedAt, rht+3*time.Second, "first attempt failed after %v, want about %v", failedAt, rht)
	assert.Contains(t, attempts[0].a.Err.Error(), "timeout", "first attempt's error %q does not say timeout", attempts[0].a.Err)
	assert.Len(t, evs, 3, "%d events, want 3", len(evs))
}

// TestChaosBlackholeAfterHeaders stops the first connection after its
// response headers: the idle timeout must catch the silence, and the
// stream must reconnect and deliver everything.
func TestChaosBlackholeAfterHeaders(t *testing.T) {
	const idle = 300 * time.Millisecond
	const n = 5
	seq := &seqServer{n: n, render: plainEvent}
	srv := newServer(t, seq)
	p := newProxy(t, srv)
	p.OnAccept(func(c *faultproxy.Conn) {
		if c.N() == 1 {
			c.SetFaults(faultproxy.Faults{BlackholeAfterHeaders: true})
		}
	})
	c := fastRetryClient(noKeepAliveTransport(t))
	c.IdleTimeout = idle
	type at struct {
		a  sse.Attempt
		at time.Time
	}
	var mu sync.Mutex
	var attempts []at
	c.OnAttempt = func(a sse.Attempt) {
		mu.Lock()
		attempts = append(attempts, at{a, time.Now()})
		mu.Unlock()
	}
	s, err := c.Connect(testContext(t), "http://"+p.Addr()+"/")
	require.NoError(t, err)
	evs := collectEvents(t, s, 30*time.Second)
	s.Close()
	mu.Lock()
	defer mu.Unlock()
	// open (headers only), lost to idle, open again, 204.
	require.GreaterOrEqual(t, len(attempts), 3, "attempts %+v, want open, idle loss, open", attempts)
	require.NoError(t, attempts[0].a.Err, "attempts %+v, want open, idle loss, open", attempts)
	require.Error(t, attempts[1].a.Err, "attempts %+v, want open, idle loss, open", attempts)
	require.NoError(t, attempts[2].a.Err, "attempts %+v, want open, idle loss, open", attempts)
	silent := attempts[1].at.Sub(attempts[0].at)
	t.Logf("idle timeout %v: silence after the headers detected after %v (%v); reconnected %v later; %d of %d events",
		idle, silent.Round(time.Millisecond), attempts[1].a.Err, attempts[2].at.Sub(attempts[1].at).Round(time.Millisecond), len(evs), n)
	assert.GreaterOrEqual(t, silent, idle, "silence detected after %v, want about %v", silent, idle)
	assert.LessOrEqual(t, silent, idle+3*time.Second, "silence detected after %v, want about %v", silent, idle)
	assert.Contains(t, attempts[1].a.Err.Error(), "idle", "loss %q does not name the idle timeout", attempts[1].a.Err)
	assert.Len(t, evs, n, "%d events, want %d", len(evs), n)
	reqs := seq.requests()
	assert.Equal(t, "", reqs[1], "reconnect sent Last-Event-ID %q though nothing was dispatched", reqs[1])
}

// TestChaosTLSUnknownAuthority connects to a TLS server whose certificate
// the client does not trust: one handshake, a *PermanentError, no retry.
func TestChaosTLSUnknownAuthority(t *testing.T) {
	var mu sync.Mutex
	hellos := 0
	srv := httptest.NewUnstartedServer(&seqServer{n: 1, render: plainEvent})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		hellos++
		mu.Unlock()
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p := newProxy(t, srv)

	tr := noKeepAliveTransport(t) // no RootCAs: the system pool, which lacks the test CA
	c := fastRetryClient(tr)
	var attempts []sse.Attempt
	c.OnAttempt = func(a sse.Attempt) { attempts = append(attempts, a) }
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Connect(ctx, "https://"+p.Addr()+"/")
	took := time.Since(start)
	if s != nil {
		s.Close()
		require.Fail(t, "Connect opened a stream to an untrusted server")
	}
	var pe *sse.PermanentError
	mu.Lock()
	defer mu.Unlock()
	t.Logf("unknown authority: %d handshake(s), %d proxied connection(s), %d attempt(s), failed in %v: %v",
		hellos, p.Accepted(), len(attempts), took.Round(time.Millisecond), err)
	assert.ErrorAs(t, err, &pe, "error %T %v is not a *PermanentError", err, err)
	assert.Equal(t, 1, hellos, "%d handshakes, want 1", hellos)
	assert.Equal(t, 1, p.Accepted(), "%d connections, want 1", p.Accepted())
	if assert.Len(t, attempts, 1, "%d attempts, want 1", len(attempts)) {
		assert.True(t, attempts[0].Final, "the attempt was not reported final: %+v", attempts[0])
	}
}
