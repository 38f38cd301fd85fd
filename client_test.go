package sse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// forEachServer runs f against an HTTP/1.1 server and a TLS HTTP/2 one, each
// with a fresh handler from mk, and a client that trusts the latter.
func forEachServer(t *testing.T, mk func() http.Handler, f func(t *testing.T, srv *httptest.Server, c *Client)) {
	t.Run("http1", func(t *testing.T) {
		srv := httptest.NewServer(mk())
		defer srv.Close()
		f(t, srv, &Client{MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond, HTTPClient: srv.Client()})
	})
	t.Run("http2", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(mk())
		srv.EnableHTTP2 = true
		srv.StartTLS()
		defer srv.Close()
		hc := srv.Client()
		f(t, srv, &Client{MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond, HTTPClient: hc})
	})
}

func TestRequestHeadersMethodAndBody(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		type seen struct {
			method, body, accept, cache, lastID, custom, proto string
		}
		var mu sync.Mutex
		var got []seen
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, seen{r.Method, string(b), r.Header.Get("Accept"), r.Header.Get("Cache-Control"),
				r.Header.Get("Last-Event-ID"), r.Header.Get("X-Custom"), r.Proto})
			n := len(got)
			mu.Unlock()
			if n == 3 {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "id: e%d\ndata: %d\n\n", n, n)
		})
		forEachServer(t, func() http.Handler { return h }, func(t *testing.T, srv *httptest.Server, c *Client) {
			mu.Lock()
			got = nil
			mu.Unlock()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/chat", strings.NewReader(`{"q":1}`))
			require.NoError(t, err)
			req.Header.Set("X-Custom", "yes")
			c.LastEventID = "resume-1"
			c.Lifecycle = Resumable // a POST is finite unless marked resumable
			s, err := fc.open(c, req)
			require.NoError(t, err)
			evs := drainEvents(s)
			require.NoError(t, s.Err())
			assert.Equal(t, []Event{{"message", "1", "e1"}, {"message", "2", "e2"}}, evs)
			assert.Equal(t, "e2", s.LastEventID())
			mu.Lock()
			defer mu.Unlock()
			require.Len(t, got, 3)
			for i, g := range got {
				assert.Equal(t, "POST", g.method)
				assert.Equal(t, `{"q":1}`, g.body, "a resumable POST's body is re-sent on every attempt")
				assert.Equal(t, "text/event-stream", g.accept)
				assert.Equal(t, "no-cache", g.cache)
				assert.Equal(t, "yes", g.custom)
				assert.Equal(t, []string{"resume-1", "e1", "e2"}[i], g.lastID)
			}
			if strings.HasSuffix(t.Name(), "http2") {
				assert.Equal(t, "HTTP/2.0", got[0].proto)
			}
		})
	})
}

func TestResponseClassification(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		for _, tc := range []struct {
			name      string
			code      int
			ctype     string
			permanent bool
		}{
			{"403", 403, "", true},
			{"404", 404, "", true},
			{"400", 400, "", true},
			{"wrong content type", 200, "text/html", true},
			{"no content type", 200, "", true},
			{"201", 201, "text/event-stream", true},
			{"500", 500, "", false},
			{"503", 503, "", false},
			{"429", 429, "", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				var hits atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					w.Header()["Content-Type"] = nil
					if tc.ctype != "" {
						w.Header().Set("Content-Type", tc.ctype)
					}
					w.WriteHeader(tc.code)
					io.WriteString(w, "body that must not be echoed\n\n")
				}))
				defer srv.Close()
				c := &Client{MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond, MaxRetries: 3}
				_, err := connectVia(fc, c, t.Context(), srv.URL+"/?token=canary")
				require.Error(t, err)
				var st *StatusError
				require.ErrorAs(t, err, &st)
				assert.Equal(t, tc.code, st.Code)
				assert.Equal(t, tc.permanent, isPermanent(err))
				if tc.permanent {
					assert.EqualValues(t, 1, hits.Load())
				} else {
					assert.EqualValues(t, 3, hits.Load())
				}
				assert.True(t, strings.HasPrefix(err.Error(), "sse: "), err.Error())
				assert.NotContains(t, err.Error(), "canary")
				assert.NotContains(t, err.Error(), "echoed")
			})
		}
	})
}

func TestContentTypeWithParametersOpens(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "Text/Event-Stream; charset=utf-8")
			io.WriteString(w, "data: ok\n\n")
		}))
		defer srv.Close()
		s, err := connectVia(fc, &Client{}, t.Context(), srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "ok", (<-s.Events()).Data)
		s.Close()
		assert.NoError(t, s.Err())
	})
}

// sequenceHandler serves events 1..total, resuming after Last-Event-ID; the
// first connections are cut after cut(n) bytes.
func sequenceHandler(total int, cut func(conn int) int) http.Handler {
	var conns atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(conns.Add(1))
		from := 1
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			v, err := strconv.Atoi(id)
			if err != nil {
				http.Error(w, "bad id", 400)
				return
			}
			from = v + 1
		}
		if from > total {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var b strings.Builder
		for i := from; i <= total; i++ {
			fmt.Fprintf(&b, "id: %d\nevent: tick\ndata: line one of %d\ndata: line two\n\n", i, i)
		}
		out := b.String()
		if k := cut(n); k >= 0 && k < len(out) {
			out = out[:k]
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(out))) // a cut is then an unexpected EOF
		io.WriteString(w, out)
	})
}

func TestCutMidEventResumesWithoutGapOrDuplicate(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		const total = 30
		one := len("id: 1\nevent: tick\ndata: line one of 1\ndata: line two\n\n")
		for _, off := range []int{0, 1, 5, 6, 12, 18, 30, one - 2, one - 1, one, one + 1, 3*one + 7} {
			t.Run(strconv.Itoa(off), func(t *testing.T) {
				t.Parallel()
				h := func() http.Handler {
					return sequenceHandler(total, func(n int) int {
						if n <= 5 {
							return off + n*one // each connection gets a little further
						}
						return -1
					})
				}
				forEachServer(t, h, func(t *testing.T, srv *httptest.Server, c *Client) {
					opened := 0
					c.OnAttempt = func(a Attempt) {
						if a.StatusCode == http.StatusOK {
							opened++
						}
					}
					s, err := connectVia(fc, c, t.Context(), srv.URL)
					require.NoError(t, err)
					evs := drainEvents(s)
					require.NoError(t, s.Err())
					assert.Equal(t, 6, opened, "five cut connections, then the rest")
					require.Len(t, evs, total)
					for i, ev := range evs {
						assert.Equal(t, Event{"tick", fmt.Sprintf("line one of %d\nline two", i+1), strconv.Itoa(i + 1)}, ev)
					}
				})
			})
		}
	})
}

func TestRedirectThenDropGoesBackToOriginalURL(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var paths []string
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			paths = append(paths, r.URL.Path)
			n := len(paths)
			mu.Unlock()
			switch {
			case r.URL.Path == "/start":
				http.Redirect(w, r, "/moved", http.StatusFound)
			case n >= 4:
				w.WriteHeader(http.StatusNoContent)
			default:
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: x\n\n")
			}
		}))
		defer srv.Close()
		s, err := connectVia(fc, &Client{MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond}, t.Context(), srv.URL+"/start")
		require.NoError(t, err)
		drainEvents(s)
		assert.Equal(t, []string{"/start", "/moved", "/start", "/moved"}, paths)
	})
}

func TestInvalidInputFailsBeforeIO(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		defer srv.Close()
		for _, tc := range []struct {
			name string
			c    *Client
			url  string
			hdr  string
		}{
			{"last event id with LF", &Client{LastEventID: "a\nb"}, srv.URL, ""},
			{"last event id with NUL", &Client{LastEventID: "a\x00"}, srv.URL, ""},
			{"last event id with CR", &Client{LastEventID: "a\r"}, srv.URL, ""},
			{"header with CRLF", &Client{}, srv.URL, "x\r\nInjected: 1"},
			{"query with LF", &Client{}, srv.URL + "/?a=%0A", ""},
			{"ftp scheme", &Client{}, "ftp://127.0.0.1/", ""},
			{"unparsable", &Client{}, "http://127.0.0.1:abc/?token=canary", ""},
			{"credentials over http to a remote host", &Client{Auth: authFunc(func() error { return nil })}, "http://example.test/", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequestWithContext(t.Context(), "GET", "http://127.0.0.1/", nil)
				require.NoError(t, err)
				u, perr := parseURL(tc.url)
				if perr == nil {
					req.URL = u
				}
				if tc.hdr != "" {
					req.Header["X-Test"] = []string{tc.hdr}
				}
				var s streamLike
				if perr == nil {
					s, err = fc.open(tc.c, req)
				} else {
					s, err = connectVia(fc, tc.c, t.Context(), tc.url)
				}
				require.Error(t, err)
				assert.Nil(t, s)
				assert.True(t, isPermanent(err), err.Error())
				assert.True(t, strings.HasPrefix(err.Error(), "sse: "), err.Error())
				assert.NotContains(t, err.Error(), "canary")
			})
		}
		assert.EqualValues(t, 0, hits.Load())
	})
}

// newBlockedServer is a server whose first response opens a stream with one
// event and ends; every later attempt stalls in the given phase, and
// reached is signalled when it gets there.
func newBlockedServer(t *testing.T, phase string, reached chan<- struct{}) *httptest.Server {
	var hits atomic.Int32
	signal := func() {
		select {
		case reached <- struct{}{}:
		default:
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := hits.Add(1) == 1
		if first && phase != "idle" && phase != "full" {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			return
		}
		switch phase {
		case "headers":
			signal()
			<-r.Context().Done()
			return
		case "retry":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(503)
			signal()
			return
		case "refresh":
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		if phase == "full" {
			// Far more events than the channel holds.
			for i := 0; i < 10000; i++ {
				if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
					return
				}
			}
		} else {
			io.WriteString(w, "data: first\n\n")
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv
}

// signalAuth signals when Refresh is entered, then blocks there until
// its context ends.
type signalAuth struct{ reached chan<- struct{} }

func (a signalAuth) Authorize(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", "Bearer x")
	return nil
}

func (a signalAuth) Refresh(ctx context.Context, _ *http.Response) error {
	a.reached <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

func TestCloseAndCancelFromEveryState(t *testing.T) {
	for _, phase := range []string{"dial", "headers", "idle", "retry", "refresh", "full"} {
		for _, how := range []string{"close", "cancel"} {
			t.Run(phase+"/"+how, func(t *testing.T) {
				t.Parallel()
				run := func(t *testing.T, fc face) {
					reached := make(chan struct{}, 1)
					srv := newBlockedServer(t, phase, reached)
					var dials atomic.Int32
					tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
						if phase == "dial" && dials.Add(1) > 1 {
							reached <- struct{}{}
							<-ctx.Done() // a dial that hangs
							return nil, ctx.Err()
						}
						var d net.Dialer
						return d.DialContext(ctx, network, addr)
					}, DisableKeepAlives: true}
					defer tr.CloseIdleConnections()
					c := &Client{HTTPClient: &http.Client{Transport: tr}, Auth: signalAuth{reached},
						RetryDelay: time.Millisecond, MinRetryDelay: time.Millisecond, MaxRetryDelay: 2 * time.Hour}
					ctx, cancel := context.WithCancel(t.Context())
					defer cancel()
					s, err := connectVia(fc, c, ctx, srv.URL)
					require.NoError(t, err)
					switch phase {
					case "idle":
						<-s.Events()
					case "full":
						// Wait until the reader blocks on a full channel.
						require.Eventually(t, func() bool { return len(s.Events()) == cap(s.Events()) }, 5*time.Second, time.Millisecond)
					default:
						<-s.Events()
						<-reached
					}
					start := time.Now()
					if how == "close" {
						require.NoError(t, s.Close())
						assert.Less(t, time.Since(start), time.Second)
						_, open := <-s.Events()
						assert.False(t, open, "no event after Close returns")
						assert.NoError(t, s.Err())
						require.NoError(t, s.Close(), "Close is idempotent")
					} else {
						cancel()
						for range s.Events() {
						}
						assert.Less(t, time.Since(start), time.Second)
						assert.ErrorIs(t, s.Err(), context.Canceled)
					}
				}
				if how == "close" || phase == "full" {
					// Stream.Close's contract and a reader blocked on the
					// channel's full buffer are the channel face's alone:
					// the pull face ends by break (TestPullBreakClosesConnection)
					// and has no buffer, and the test's adapter would be
					// all that Close or a full channel exercised there.
					run(t, faces[0])
					return
				}
				forFaces(t, run)
			})
		}
	}
}

func TestCancelWhileConnectIsBlocked(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
		defer srv.Close()
		ctx, cancel := context.WithCancel(t.Context())
		c := &Client{RetryDelay: time.Hour, OnAttempt: func(a Attempt) {
			if a.Err != nil {
				cancel() // the first attempt failed; Connect now waits an hour
			}
		}}
		start := time.Now()
		s, err := connectVia(fc, c, ctx, srv.URL)
		assert.Nil(t, s)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), time.Second)
	})
}

func TestConcurrentClose(t *testing.T) {
	srv := newBlockedServer(t, "full", nil)
	s, err := (&Client{}).Connect(t.Context(), srv.URL)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); s.Close() }()
		go func() {
			defer wg.Done()
			for range s.Events() {
			}
		}()
	}
	wg.Wait()
	assert.NoError(t, s.Err())
}

func TestSlowConsumerLosesNothing(t *testing.T) {
	const total = 2000
	srv := httptest.NewServer(sequenceHandler(total, func(int) int { return -1 }))
	defer srv.Close()
	s, err := (&Client{}).Connect(t.Context(), srv.URL)
	require.NoError(t, err)
	i := 0
	for ev := range s.Events() {
		i++
		require.Equal(t, strconv.Itoa(i), ev.ID)
		if i%200 == 0 {
			time.Sleep(5 * time.Millisecond) // a consumer that stalls now and then
		}
	}
	assert.Equal(t, total, i)
	assert.NoError(t, s.Err())
}

func TestConnectCloseCyclesLeaveNothingBehind(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		n := 10000
		if testing.Short() {
			n = 1000
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: hi\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		defer srv.Close()
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		c := &Client{HTTPClient: &http.Client{Transport: tr}}
		fds := openFDs(t)
		goroutines := runtime.NumGoroutine()
		for i := 0; i < n; i++ {
			s, err := connectVia(fc, c, t.Context(), srv.URL)
			require.NoError(t, err)
			if i%2 == 0 {
				<-s.Events()
			}
			require.NoError(t, s.Close())
		}
		tr.CloseIdleConnections()
		assert.Eventually(t, func() bool {
			return runtime.NumGoroutine() <= goroutines+2 && openFDs(t) <= fds+2
		}, 10*time.Second, 10*time.Millisecond, "goroutines %d→%d, fds %d→%d", goroutines, runtime.NumGoroutine(), fds, openFDs(t))
	})
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

func TestHTTPClientTimeoutDoesNotKillStream(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 6; i++ {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-time.After(60 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
			w.WriteHeader(204)
		}))
		defer srv.Close()
		var attempts atomic.Int32
		c := &Client{HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}, MaxRetries: 1,
			OnAttempt: func(Attempt) { attempts.Add(1) }}
		s, err := connectVia(fc, c, t.Context(), srv.URL)
		require.NoError(t, err)
		for i := 0; i < 6; i++ {
			assert.Equal(t, strconv.Itoa(i), (<-s.Events()).Data)
		}
		s.Close()
		assert.EqualValues(t, 1, attempts.Load(), "one connection lived 360ms despite a 100ms Timeout")
	})
}

func TestResponseHeaderTimeoutIsRetried(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) == 1 {
				<-r.Context().Done() // never sends headers
				return
			}
			w.WriteHeader(204)
		}))
		defer srv.Close()
		var first error
		c := &Client{HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}, MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond,
			OnAttempt: func(a Attempt) {
				if a.N == 1 && first == nil {
					first = a.Err
				}
			}}
		openAndDrain(t, fc, c, getReq(t, t.Context(), srv.URL+"/?k=canary"))
		require.Error(t, first)
		assert.ErrorIs(t, first, errHeaderTimeout)
		assert.NotContains(t, first.Error(), "canary")
		assert.EqualValues(t, 2, hits.Load())
	})
}

func TestDialErrorIsRetriedAndRedacted(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		_, err = connectVia(fc, &Client{MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond, MaxRetries: 2},
			t.Context(), "http://"+addr+"/x?token=canary")
		require.Error(t, err)
		assert.False(t, isPermanent(err))
		assert.Contains(t, err.Error(), "token=REDACTED")
		assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), "canary")
		var ne *net.OpError
		assert.ErrorAs(t, err, &ne, "the network error stays inspectable")
	})
}

func TestTLSUnknownAuthorityIsPermanent(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var hits atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		var handshakes atomic.Int32
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				handshakes.Add(1)
			}
		}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
		srv.StartTLS()
		defer srv.Close()
		_, err := connectVia(fc, &Client{MinRetryDelay: time.Millisecond}, t.Context(), srv.URL)
		require.Error(t, err)
		assert.True(t, isPermanent(err))
		assert.True(t, isCertError(err))
		assert.EqualValues(t, 0, hits.Load())
		assert.EqualValues(t, 1, handshakes.Load())
	})
}

func TestServerLastEventIDWithControlCharIsNotSent(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var got []string
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.Header.Get("Last-Event-ID"))
			n := len(got)
			mu.Unlock()
			if n > 1 {
				w.WriteHeader(204)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: bad\x01id\ndata: x\n\n")
		}))
		defer srv.Close()
		evs, err := openAndDrain(t, fc, &Client{MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond}, getReq(t, t.Context(), srv.URL))
		require.Len(t, evs, 1)
		assert.Equal(t, "bad\x01id", evs[0].ID)
		assert.NoError(t, err)
		assert.Equal(t, []string{"", ""}, got)
	})
}

func TestEventTooLargeEndsStream(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: ok\n\ndata: "+strings.Repeat("x", 5000)+"\n\n")
		}))
		defer srv.Close()
		evs, err := openAndDrain(t, fc, &Client{MaxLineSize: 1024, MaxEventSize: 1024}, getReq(t, t.Context(), srv.URL))
		assert.Len(t, evs, 1)
		assert.ErrorIs(t, err, ErrEventTooLarge)
		var pe *ParseError
		assert.ErrorAs(t, err, &pe)
	})
}

func TestCheckRedirectOfCallerStillRuns(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/again", http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		mine := errors.New("caller says no")
		base := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return mine }}
		_, err := connectVia(fc, &Client{HTTPClient: base, MaxRetries: 1}, t.Context(), srv.URL)
		require.Error(t, err)
		assert.ErrorIs(t, err, mine)
		assert.NotNil(t, base.CheckRedirect, "the caller's client is not modified")
	})
}

func TestCommentsDoNotCostEvents(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			bw := bufio.NewWriter(w)
			bw.WriteString(":hello\n: world\ndata: a\n\n")
			bw.Flush()
		}))
		defer srv.Close()
		var mu sync.Mutex
		var comments []string
		c := &Client{MaxRetries: 1, OnComment: func(s string) { mu.Lock(); comments = append(comments, s); mu.Unlock() }}
		s, err := connectVia(fc, c, t.Context(), srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "a", (<-s.Events()).Data)
		s.Close()
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []string{"hello", "world"}, comments[:2])
	})
}

func TestLoggerReportsConnectsAndRetries(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch hits.Add(1) {
			case 1:
				w.WriteHeader(503)
			case 2:
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: x\n\n")
			default:
				w.WriteHeader(204)
			}
		}))
		defer srv.Close()
		var buf strings.Builder
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c := &Client{Logger: logger, MinRetryDelay: time.Millisecond, RetryDelay: time.Millisecond}
		openAndDrain(t, fc, c, getReq(t, t.Context(), srv.URL+"/?token=canary"))
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		for _, want := range []string{"sse: connecting", "sse: connection failed; retrying", "503", "sse: connected", "204", "token=REDACTED"} {
			assert.Contains(t, out, want)
		}
		assert.NotContains(t, out, "canary")
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
