package interop

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekit/sse"
)

// betterSSE is node/bettersse.js: better-sse behind express.
type betterSSE struct {
	t    *testing.T
	node string
	port int
	hist string
	base string
	proc *proc
}

func startBetterSSE(t *testing.T) *betterSSE {
	t.Helper()
	b := &betterSSE{t: t, node: requireNodeModules(t, "better-sse"), port: freePort(t), hist: filepath.Join(t.TempDir(), "history.json")}
	b.base = fmt.Sprintf("http://127.0.0.1:%d", b.port)
	b.start()
	return b
}

func (b *betterSSE) start() {
	b.t.Helper()
	b.proc = startProc(b.t, b.node, []string{"node/bettersse.js", strconv.Itoa(b.port), b.hist}, nil)
	waitPort(b.t, b.port, b.proc)
}

func (b *betterSSE) publish(data string) string {
	b.t.Helper()
	var r struct{ ID string }
	require.NoError(b.t, decodeJSONString(httpDo(b.t, http.MethodPost, b.base+"/publish", data, http.StatusOK, "Content-Type", "text/plain"), &r))
	return r.ID
}

type betterStats struct {
	Connections  int
	Tokens       []string
	LastEventIDs []string
	Statuses     []int
	Open         int
}

func (b *betterSSE) stats() betterStats {
	b.t.Helper()
	var s betterStats
	require.NoError(b.t, decodeJSONString(httpDo(b.t, http.MethodGet, b.base+"/stats", "", http.StatusOK), &s))
	return s
}

func (b *betterSSE) waitOpen(n int) {
	b.t.Helper()
	waitFor(b.t, 10*time.Second, func() bool { return b.stats().Open == n })
}

func goodClient() (*sse.Client, *attempts) {
	return fastClient(sse.Bearer(&tokenSeq{tokens: []string{"good"}}))
}

func TestBetterSSERetryHonoured(t *testing.T) {
	b := startBetterSSE(t)
	c, at := goodClient()
	c.RetryDelay = 5 * time.Second // replaced by the server's retry:
	c.MaxRetryDelay = 10 * time.Second
	// Each connection gets one new event (tick=1), then the server ends it.
	s, err := c.Connect(t.Context(), b.base+"/events?retry=700&tick=1&end=1")
	require.NoError(t, err)
	defer s.Close()
	evs := collect(t, s, 3, 10*time.Second)
	require.Equal(t, []string{"tick-1", "tick-2", "tick-3"}, datas(evs))
	var delays []time.Duration
	for _, a := range at.all() {
		if a.Ended && !a.Final { // the server ended a connection that delivered an event
			require.NoError(t, a.Err, "a clean end is no failure")
			delays = append(delays, a.Delay)
		}
	}
	require.GreaterOrEqual(t, len(delays), 2)
	for i, d := range delays {
		require.GreaterOrEqual(t, d, 700*time.Millisecond, "delay %d: retry: is the floor", i)
		require.LessOrEqual(t, d, 1050*time.Millisecond, "delay %d: retry: plus at most half of it as jitter", i)
	}
	require.Equal(t, []string{"", "1", "2"}, b.stats().LastEventIDs[:3])
}

func TestBetterSSEKeepAliveAndStall(t *testing.T) {
	t.Run("comments keep the stream alive", func(t *testing.T) {
		b := startBetterSSE(t)
		c, _ := goodClient()
		c.IdleTimeout = 400 * time.Millisecond
		var comments atomic.Int32
		c.OnComment = func(string) { comments.Add(1) }
		s, err := c.Connect(t.Context(), b.base+"/events?keepalive=100")
		require.NoError(t, err)
		defer s.Close()
		time.Sleep(1200 * time.Millisecond) // three idle timeouts
		id := b.publish("still here")
		ev := collect(t, s, 1, 5*time.Second)[0]
		require.Equal(t, sse.Event{Type: "message", Data: "still here", ID: id}, ev)
		require.Equal(t, 1, b.stats().Connections, "no reconnect while comments flow")
		require.GreaterOrEqual(t, comments.Load(), int32(5))
	})
	t.Run("a stalled stream is reconnected", func(t *testing.T) {
		b := startBetterSSE(t)
		c, at := goodClient()
		c.IdleTimeout = 400 * time.Millisecond
		id1 := b.publish("first")
		s, err := c.Connect(t.Context(), b.base+"/events") // no keep-alive: silent after the history
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, "first", collect(t, s, 1, 5*time.Second)[0].Data)
		waitFor(t, 5*time.Second, func() bool { return b.stats().Connections >= 2 })
		b.waitOpen(1)
		b.publish("second")
		require.Equal(t, []string{"second"}, datas(collect(t, s, 1, 5*time.Second)), "nothing lost, nothing twice")
		st := b.stats()
		require.Equal(t, id1, st.LastEventIDs[1])
		require.NotEmpty(t, at.all())
	})
}

// betterResume checks that what is published while the connection is
// gone arrives exactly once.
func betterResume(t *testing.T, disrupt func(b *betterSSE)) {
	b := startBetterSSE(t)
	c, _ := goodClient()
	s, err := c.Connect(t.Context(), b.base+"/events")
	require.NoError(t, err)
	defer s.Close()
	b.waitOpen(1)
	b.publish("a")
	b.publish("b")
	got := collect(t, s, 2, 5*time.Second)
	disrupt(b)
	b.publish("c") // before the client is back
	waitFor(t, 10*time.Second, func() bool { return b.stats().Open == 1 })
	b.publish("d")
	got = append(got, collect(t, s, 2, 5*time.Second)...)
	require.Equal(t, []string{"a", "b", "c", "d"}, datas(got))
	require.Equal(t, []string{"1", "2", "3", "4"}, []string{got[0].ID, got[1].ID, got[2].ID, got[3].ID})
	st := b.stats()
	require.Equal(t, "2", st.LastEventIDs[len(st.LastEventIDs)-1], "resumed after the last id seen")
}

func TestBetterSSEResumeAfterDroppedSocket(t *testing.T) {
	betterResume(t, func(b *betterSSE) {
		httpDo(t, http.MethodPost, b.base+"/drop", "", http.StatusOK)
	})
}

func TestBetterSSEResumeAfterRestart(t *testing.T) {
	betterResume(t, func(b *betterSSE) {
		b.proc.stop(syscall.SIGKILL)
		b.start() // same port, history from the file
	})
}

func TestBetterSSEAuthExpired(t *testing.T) {
	b := startBetterSSE(t)
	b.publish("one")
	b.publish("two")
	ts := &tokenSeq{tokens: []string{"short", "good"}}
	c, _ := fastClient(sse.Bearer(ts))
	s, err := c.Connect(t.Context(), b.base+"/events")
	require.NoError(t, err)
	defer s.Close()
	got := collect(t, s, 2, 5*time.Second)
	b.waitOpen(1)
	b.publish("three")
	got = append(got, collect(t, s, 1, 5*time.Second)...)
	require.Equal(t, []string{"one", "two", "three"}, datas(got), "auth_expired is not delivered")
	st := b.stats()
	require.Equal(t, []string{"short", "good"}, st.Tokens)
	require.Equal(t, []string{"", "2"}, st.LastEventIDs)
	require.Equal(t, 2, ts.Calls())
}

func TestBetterSSE204Ends(t *testing.T) {
	b := startBetterSSE(t)
	b.publish("only")
	c, at := goodClient()
	// The first connection ends after the history; better-sse answers the
	// second with statusCode 204.
	s, err := c.Connect(t.Context(), b.base+"/events?end=1&gone=1")
	require.NoError(t, err)
	evs := drain(t, s, 10*time.Second)
	require.Equal(t, []string{"only"}, datas(evs))
	require.NoError(t, s.Err())
	st := b.stats()
	require.Equal(t, []int{200, 204}, st.Statuses)
	require.Equal(t, []string{"", "1"}, st.LastEventIDs)
	last := at.all()[len(at.all())-1]
	require.True(t, last.Final)
}

func TestBetterSSE403Ends(t *testing.T) {
	b := startBetterSSE(t)
	ts := &tokenSeq{tokens: []string{"forbidden"}}
	c, _ := fastClient(sse.Bearer(ts))
	_, err := c.Connect(t.Context(), b.base+"/events")
	var pe *sse.PermanentError
	require.ErrorAs(t, err, &pe)
	var st *sse.StatusError
	require.ErrorAs(t, err, &st)
	require.Equal(t, http.StatusForbidden, st.Code)
	require.Equal(t, []string{"forbidden"}, b.stats().Tokens, "one request, no retry")
	require.NotContains(t, err.Error(), "forbidden\"")
}

func TestBetterSSESsecat(t *testing.T) {
	b := startBetterSSE(t)
	b.publish("x")
	b.publish("y")
	res := runSsecat(t, []string{"SSE_TOKEN=good"}, -1, b.base+"/events?end=1&gone=1")
	require.Equal(t, 0, res.Exit, "a 204 is a clean end; stderr: %s", res.Stderr)
	require.Equal(t, []jsonEvent{{Type: "message", Data: "x", ID: "1"}, {Type: "message", Data: "y", ID: "2"}}, res.Events)
	st := b.stats()
	require.Equal(t, []string{"good", "good"}, st.Tokens)
	require.Equal(t, []string{"", "2"}, st.LastEventIDs)
	require.Equal(t, []int{200, 204}, st.Statuses)

	t.Run("401 without a token", func(t *testing.T) {
		res := runSsecat(t, []string{"SSE_TOKEN="}, -1, b.base+"/events")
		require.Equal(t, 1, res.Exit)
		require.Contains(t, res.Stderr, "401")
		require.Empty(t, res.Events)
	})
}
