package sse

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The stream lifecycle end to end, through both faces of the one engine:
// the channel (Do + Stream.Events) and the pull iterator (Client.Events).

// fastClient is a Client with millisecond delays, for real-server tests.
func fastClient() *Client {
	return &Client{RetryDelay: time.Millisecond, MinRetryDelay: time.Millisecond, MaxRetryDelay: 20 * time.Millisecond}
}

// counter counts the requests of each method a test server saw.
type counter struct {
	mu   sync.Mutex
	seen []*http.Request
	body []string
}

func (c *counter) add(r *http.Request) int {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, r)
	c.body = append(c.body, string(b))
	return len(c.seen)
}

func (c *counter) methods() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.seen {
		out = append(out, r.Method)
	}
	return out
}

func (c *counter) header(i int, name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[i].Header.Get(name)
}

func sseHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
}

func postReq(t *testing.T, url string) *http.Request {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(`{"prompt":"hi"}`))
	require.NoError(t, err)
	return req
}

// (a) A POST whose server ends the stream after 2 events is sent exactly
// once, and the stream ends with no error.
func TestFinitePostIsSentOnce(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var cnt counter
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cnt.add(r)
			sseHeaders(w)
			io.WriteString(w, "data: Hel\n\ndata: lo\n\n")
		}))
		defer srv.Close()
		evs, err := fc.collect(fastClient(), postReq(t, srv.URL))
		require.NoError(t, err)
		assert.Equal(t, []Event{{"message", "Hel", ""}, {"message", "lo", ""}}, evs)
		time.Sleep(30 * time.Millisecond) // longer than any retry delay of fastClient
		assert.Equal(t, []string{"POST"}, cnt.methods())
	})
}

// (b) A POST cut mid-stream is not sent again, and the stream ends with an
// error that says so.
func TestFinitePostCutIsNotResent(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var cnt counter
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cnt.add(r)
			sseHeaders(w)
			io.WriteString(w, "id: 1\ndata: partial\n\ndata: cut he")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection breaks mid-event
		}))
		defer srv.Close()
		evs, err := fc.collect(fastClient(), postReq(t, srv.URL))
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrStreamLost)
		assert.Contains(t, err.Error(), "not sent again")
		assert.Equal(t, []Event{{"message", "partial", "1"}}, evs)
		time.Sleep(30 * time.Millisecond)
		assert.Equal(t, []string{"POST"}, cnt.methods())
	})
}

// (c) A POST marked resumable is sent again with Last-Event-ID and its
// body.
func TestResumablePostIsResent(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var cnt counter
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch cnt.add(r) {
			case 1:
				sseHeaders(w)
				io.WriteString(w, "id: 1\ndata: one\n\n")
			case 2:
				sseHeaders(w)
				io.WriteString(w, "id: 2\ndata: two\n\n")
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		}))
		defer srv.Close()
		c := fastClient()
		c.Lifecycle = Resumable
		evs, err := fc.collect(c, postReq(t, srv.URL))
		require.NoError(t, err)
		assert.Len(t, evs, 2)
		assert.Equal(t, []string{"POST", "POST", "POST"}, cnt.methods())
		assert.Equal(t, "1", cnt.header(1, "Last-Event-ID"))
		assert.Equal(t, "2", cnt.header(2, "Last-Event-ID"))
		assert.Equal(t, []string{`{"prompt":"hi"}`, `{"prompt":"hi"}`, `{"prompt":"hi"}`}, cnt.body)
	})
}

// (d) An MCP-style resume: the POST opens, the connection is lost, a GET
// with Last-Event-ID and the session header resumes, and no event is lost
// or duplicated.
func TestFinitePostResumesWithGet(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var cnt counter
		all := []string{"id: 1\ndata: progress 1\n\n", "id: 2\ndata: progress 2\n\n", "id: 3\nevent: result\ndata: done\n\n"}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cnt.add(r)
			switch r.Method {
			case http.MethodPost:
				w.Header().Set("Mcp-Session-Id", "s-42")
				sseHeaders(w)
				io.WriteString(w, all[0])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			case http.MethodGet:
				if r.Header.Get("Mcp-Session-Id") != "s-42" || r.Header.Get("Last-Event-ID") != "1" {
					http.Error(w, "bad resume", http.StatusBadRequest)
					return
				}
				sseHeaders(w)
				io.WriteString(w, all[1]+all[2])
			}
		}))
		defer srv.Close()
		c := fastClient()
		var resumes []string
		c.Resume = func(ctx context.Context, lastEventID string) (*http.Request, error) {
			resumes = append(resumes, lastEventID)
			if lastEventID == "3" {
				return nil, nil // the result arrived: done
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			req.Header.Set("Mcp-Session-Id", "s-42")
			return req, err
		}
		evs, err := fc.collect(c, postReq(t, srv.URL))
		require.NoError(t, err)
		assert.Equal(t, []Event{{"message", "progress 1", "1"}, {"message", "progress 2", "2"}, {"result", "done", "3"}}, evs)
		assert.Equal(t, []string{"POST", "GET"}, cnt.methods())
		assert.Equal(t, []string{"1", "3"}, resumes)
		assert.Equal(t, "text/event-stream", cnt.header(1, "Accept"))
	})
}

// (e) A server that sends auth_expired on every open gets at most 20
// connections in 10 s with the defaults, and MaxRetries stops it.
func TestAuthExpiredLoopIsPaced(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{response: func(int, *http.Request) *http.Response {
				return streamResponse("event: auth_expired\ndata: bye\n\n")
			}}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1/", nil)
			c := &Client{HTTPClient: sc.client(), Auth: StaticHeaders(http.Header{"X-Key": {"k"}})}
			_, err := fc.collect(c, req)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			n := sc.count()
			t.Logf("connections in 10 s: %d", n)
			assert.LessOrEqual(t, n, 20)
			assert.GreaterOrEqual(t, n, 3)

			sc2 := &scriptedTransport{response: sc.response}
			req2, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1/", nil)
			c2 := &Client{HTTPClient: sc2.client(), Auth: StaticHeaders(http.Header{"X-Key": {"k"}}), MaxRetries: 4}
			_, err = fc.collect(c2, req2)
			require.Error(t, err)
			assert.ErrorIs(t, err, errAuthExpired)
			assert.Contains(t, err.Error(), "gave up after 4")
			assert.Equal(t, 4, sc2.count())
		})
	})
}

// (f) With retry: 1200 and connections that close after delivering
// events, every delay is 1.2–1.8 s: no growth.
func TestRetryFieldWithoutGrowth(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
				if n > 8 {
					return statusResponse(204)
				}
				return streamResponse(fmt.Sprintf("retry: 1200\nid: %d\ndata: x\n\n", n))
			}}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1/", nil)
			evs, err := fc.collect(&Client{HTTPClient: sc.client()}, req)
			require.NoError(t, err)
			assert.Len(t, evs, 8)
			gaps := sc.gaps()
			require.Len(t, gaps, 8)
			assertGapsWithin(t, gaps, 1200*time.Millisecond, 1800*time.Millisecond)
		})
	})
}

// (g) retry: 99999999999999999999 is capped, and MaxElapsed still gives up.
func TestHugeRetryIsCapped(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
				if n == 1 {
					return streamResponse("retry: 99999999999999999999\ndata: x\n\n")
				}
				return statusResponse(503)
			}}
			start := time.Now()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1/", nil)
			_, err := fc.collect(&Client{HTTPClient: sc.client(), MaxElapsed: 2 * time.Minute}, req)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "gave up")
			assert.LessOrEqual(t, time.Since(start), 3*time.Minute)
			gaps := sc.gaps()
			require.NotEmpty(t, gaps)
			for _, g := range gaps {
				assert.LessOrEqual(t, g, 45*time.Second, "capped by MaxRetryDelay plus jitter")
			}
		})
	})
}

// (i) Close called inside OnComment and inside OnAttempt returns, and no
// event is received after it.
func TestCloseFromCallbacks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sseHeaders(w)
		io.WriteString(w, "data: 1\n\n: note\n\ndata: 2\n\ndata: 3\n\n")
	}))
	defer srv.Close()
	for _, hook := range []string{"OnComment", "OnAttempt"} {
		t.Run(hook, func(t *testing.T) {
			var s *Stream
			ready := make(chan struct{})
			closed := make(chan struct{})
			var once sync.Once
			closeIt := func() {
				once.Do(func() {
					<-ready // s is set
					s.Close()
					close(closed)
				})
			}
			c := fastClient()
			if hook == "OnComment" {
				c.OnComment = func(string) { closeIt() }
			} else {
				// The end of the first connection is reported through
				// OnAttempt, on the Stream's goroutine.
				c.OnAttempt = func(a Attempt) {
					if a.Ended {
						closeIt()
					}
				}
			}
			var err error
			s, err = c.Connect(t.Context(), srv.URL)
			require.NoError(t, err)
			close(ready)
			// The consumer keeps receiving: no receive that starts after
			// Close returned may yield an event.
			timeout := time.After(10 * time.Second)
			for {
				var after bool
				select {
				case <-closed:
					after = true
				default:
				}
				select {
				case ev, ok := <-s.Events():
					if !ok {
						select {
						case <-closed:
						case <-timeout:
							require.Fail(t, "Close called from "+hook+" did not return")
						}
						assert.NoError(t, s.Err())
						return
					}
					assert.False(t, after, "event received after Close returned: %+v", ev)
				case <-timeout:
					require.Fail(t, "Close called from "+hook+" did not return")
				}
			}
		})
	}
}

// (j) Comments reach OnComment in stream order relative to events, under a
// slow consumer.
func TestCommentsInStreamOrder(t *testing.T) {
	var body strings.Builder
	var want []string
	for i := range 40 {
		fmt.Fprintf(&body, "data: e%d\n\n", i)
		want = append(want, fmt.Sprintf("e%d", i))
		if i%7 == 3 {
			fmt.Fprintf(&body, ": c%d\n", i)
			want = append(want, fmt.Sprintf("c%d", i))
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") != "" || r.URL.Query().Get("n") == "2" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		sseHeaders(w)
		io.WriteString(w, body.String())
	}))
	defer srv.Close()
	forFaces(t, func(t *testing.T, fc face) {
		for range 3 {
			var mu sync.Mutex
			var got []string
			record := func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }
			c := fastClient()
			c.Lifecycle = Finite
			c.OnComment = record
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
			if fc.name == "channel" {
				s, err := c.Do(req)
				require.NoError(t, err)
				for ev := range s.Events() {
					record(ev.Data)
					time.Sleep(time.Millisecond) // a slow consumer: the channel fills up
				}
				require.NoError(t, s.Err())
			} else {
				for ev, err := range c.Events(req) {
					require.NoError(t, err)
					record(ev.Data)
					time.Sleep(time.Millisecond)
				}
			}
			mu.Lock()
			assert.Equal(t, want, got)
			mu.Unlock()
		}
	})
}

// (k) Response headers reach the caller on open, and a 400's JSON body can
// be read from the error, never from its text.
func TestCallerSeesResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "req-7")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"max_tokens is too large"}}`)
			return
		}
		w.Header().Set("Mcp-Session-Id", "s-1")
		sseHeaders(w)
		io.WriteString(w, "data: x\n\n")
	}))
	defer srv.Close()

	var opened []Attempt
	c := fastClient()
	c.Lifecycle = Finite
	c.OnAttempt = func(a Attempt) { opened = append(opened, a) }
	s, err := c.Connect(t.Context(), srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "s-1", s.Header().Get("Mcp-Session-Id"))
	for range s.Events() {
	}
	require.NoError(t, s.Err())
	require.NotEmpty(t, opened)
	assert.Equal(t, http.StatusOK, opened[0].StatusCode)
	assert.Equal(t, "s-1", opened[0].Header.Get("Mcp-Session-Id"))

	forFaces(t, func(t *testing.T, fc face) {
		_, err := fc.collect(fastClient(), postReq(t, srv.URL+"/bad"))
		var st *StatusError
		require.ErrorAs(t, err, &st)
		assert.Equal(t, 400, st.Code)
		assert.Equal(t, "req-7", st.Header.Get("X-Request-Id"))
		var body struct {
			Error struct{ Message string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal(st.Body, &body))
		assert.Equal(t, "max_tokens is too large", body.Error.Message)
		assert.NotContains(t, err.Error(), "max_tokens")
		assert.NotContains(t, fmt.Sprintf("%v %+v %#v", err, err, st), "max_tokens")
	})
}

// (l) With a zero-value Client, an event of type auth_expired is delivered
// like any other.
func TestAuthExpiredWithoutAuthIsAnEvent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sseHeaders(w)
		io.WriteString(w, "data: a\n\nevent: auth_expired\ndata: b\n\ndata: c\n\n")
	}))
	defer srv.Close()
	forFaces(t, func(t *testing.T, fc face) {
		c := &Client{Lifecycle: Finite}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		evs, err := fc.collect(c, req)
		require.NoError(t, err)
		assert.Equal(t, []Event{{"message", "a", ""}, {"auth_expired", "b", ""}, {"message", "c", ""}}, evs)
	})
}

// A context that ends before the first open gives an error that wraps both
// the context's error and the last attempt's cause.
func TestContextEndBeforeOpenKeepsCause(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	forFaces(t, func(t *testing.T, fc face) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		_, err := fc.collect(fastClient(), req)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var op *net.OpError
		assert.ErrorAs(t, err, &op, "the dial error is kept: %v", err)
		assert.Contains(t, err.Error(), "refused")
	})
}

// Once a Stream ended on its own (a 403 on reconnect), Close still leaves
// no event to receive.
func TestNoEventAfterCloseOnceEnded(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 1 {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		sseHeaders(w)
		for i := range 10 {
			fmt.Fprintf(w, "data: %d\n\n", i)
		}
	}))
	defer srv.Close()
	s, err := fastClient().Connect(t.Context(), srv.URL)
	require.NoError(t, err)
	<-s.Events()
	require.Eventually(t, func() bool { return n.Load() == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // the Stream ends with 403, events still buffered
	s.Close()
	for ev := range s.Events() {
		assert.Fail(t, fmt.Sprintf("event received after Close: %+v", ev))
	}
	var st *StatusError
	require.ErrorAs(t, s.Err(), &st, "the Stream ended with the 403 before Close")
	assert.Equal(t, http.StatusForbidden, st.Code)
}

// Breaking out of the pull loop closes the connection and leaves nothing
// behind (goleak in TestMain checks the goroutines).
func TestPullBreakClosesConnection(t *testing.T) {
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sseHeaders(w)
		io.WriteString(w, "data: 1\n\ndata: 2\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(gone)
	}))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	for ev, err := range fastClient().Events(req) {
		require.NoError(t, err)
		if ev.Data == "1" {
			break
		}
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		require.Fail(t, "the server's request did not end after break")
	}
}

// (h) A header value containing \x01 fails before any I/O with a
// permanent error, through both faces.
func TestUnsendableHeaderFailsBeforeIO(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	forFaces(t, func(t *testing.T, fc face) {
		for _, h := range []struct{ name, value string }{{"X-A", "a\x01b"}, {"X-A", "a\x7fb"}, {"X A", "v"}} {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
			req.Header[h.name] = []string{h.value}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			_, err := fc.collect(fastClient(), req.WithContext(ctx))
			cancel()
			var pe *PermanentError
			require.ErrorAs(t, err, &pe, "%q: %q", h.name, h.value)
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
		}
		assert.Zero(t, calls.Load(), "nothing reached the server")
	})
}

// Finding 9 of the credential-policy review: the header timeout must not
// fire after the response arrived and cut a stream that just opened. The
// response arrives at the very instant the timeout expires; either the
// attempt counts as timed out, or the stream opens and keeps all its
// events, never both.
func TestFinding9HeaderTimeoutCannotCutAnOpenedStream(t *testing.T) {
	for range 40 {
		synctest.Test(t, func(t *testing.T) {
			var conns atomic.Int32
			hc := &http.Client{Timeout: time.Second, Transport: rtFunc(func(req *http.Request) (*http.Response, error) {
				n := conns.Add(1)
				if n == 1 {
					time.Sleep(time.Second) // the answer comes as the timeout expires
				}
				pr, pw := io.Pipe()
				stop := context.AfterFunc(req.Context(), func() { pw.CloseWithError(context.Cause(req.Context())) })
				go func() {
					defer stop()
					for i := range 3 {
						time.Sleep(100 * time.Millisecond)
						if _, err := fmt.Fprintf(pw, "id: %d-%d\ndata: x\n\n", n, i); err != nil {
							return
						}
					}
					pw.Close()
				}()
				resp := streamResponse("")
				resp.Body = pr
				resp.Request = req
				return resp, nil
			})}
			var opened, cut atomic.Int32
			c := &Client{HTTPClient: hc, Lifecycle: Finite, OnAttempt: func(a Attempt) {
				if a.StatusCode == http.StatusOK && !a.Ended {
					opened.Add(1)
				}
				if a.Ended && a.Err != nil {
					cut.Add(1)
				}
			}}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1/", nil)
			evs, err := faces[1].collect(c, req)
			require.NoError(t, err)
			assert.Len(t, evs, 3, "the opened connection delivered all its events")
			assert.Zero(t, cut.Load(), "no opened connection was cut")
			assert.Equal(t, int32(1), opened.Load())
		})
	}
}
