package sse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryFieldIsHonouredAndPersists(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
				switch n {
				case 1:
					return streamResponse("retry: 5000\ndata: a\n\n")
				case 2, 3:
					return streamResponse("data: b\n\n") // no retry: field; 5 s persists
				default:
					return statusResponse(204)
				}
			}}
			c := &Client{HTTPClient: sc.client()}
			evs, err := openAndDrain(t, fc, c, getReq(t, t.Context(), "http://127.0.0.1/events"))
			require.NoError(t, err)
			assert.Len(t, evs, 3)
			gaps := sc.gaps()
			require.Len(t, gaps, 3)
			// Every connection delivered an event: each wait is retry: plus
			// jitter that only adds (≤ 50%), with no growth.
			assertGapsWithin(t, gaps, 5*time.Second, 7500*time.Millisecond)
		})
	})
}

func TestConnectionThatDeliveredResetsGrowth(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{}
			sc.response = func(n int, req *http.Request) *http.Response {
				switch {
				case n <= 3:
					return statusResponse(503)
				case n == 4:
					// Healthy: stays open 20 s, then ends.
					pr, pw := io.Pipe()
					go func() {
						io.WriteString(pw, "data: up\n\n")
						select {
						case <-time.After(20 * time.Second):
						case <-req.Context().Done():
						}
						pw.Close()
					}()
					resp := streamResponse("")
					resp.Body = pr
					return resp
				case n == 5:
					return statusResponse(204)
				}
				return statusResponse(500)
			}
			c := &Client{HTTPClient: sc.client(), RetryDelay: time.Second, IdleTimeout: -1}
			openAndDrain(t, fc, c, getReq(t, t.Context(), "http://127.0.0.1/events"))
			gaps := sc.gaps()
			require.Len(t, gaps, 4)
			assert.GreaterOrEqual(t, gaps[0], time.Second)
			assert.GreaterOrEqual(t, gaps[1], 2*time.Second)
			assert.GreaterOrEqual(t, gaps[2], 4*time.Second)
			// The connection delivered an event: the growth restarts at the base.
			after := gaps[3] - 20*time.Second
			assert.GreaterOrEqual(t, after, time.Second)
			assert.LessOrEqual(t, after, 1500*time.Millisecond)
		})
	})
}

func TestHotLoopFloor(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			// retry: 0 and a server that accepts and closes at once.
			sc := &scriptedTransport{response: func(int, *http.Request) *http.Response { return streamResponse("retry: 0\n\n") }}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := &Client{HTTPClient: sc.client()}
			_, err := openAndDrain(t, fc, c, getReq(t, ctx, "http://127.0.0.1/events"))
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			n := sc.count()
			t.Logf("connections in 10 s with retry: 0: %d", n)
			assert.LessOrEqual(t, n, 20)
			assert.GreaterOrEqual(t, n, 3)
		})
	})
}

func TestRetryAfter(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		for _, tc := range []struct {
			name, value string
			want        time.Duration
		}{
			{"seconds", "7", 7 * time.Second},
			{"http-date", time.Date(2000, 1, 1, 0, 0, 12, 0, time.UTC).Format(http.TimeFormat), 12 * time.Second},
			{"clamped to the cap", "86400", 30 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
						if n == 1 {
							return statusResponse(503, "Retry-After", tc.value)
						}
						return statusResponse(204)
					}}
					c := &Client{HTTPClient: sc.client()}
					openAndDrain(t, fc, c, getReq(t, t.Context(), "http://127.0.0.1/events"))
					gaps := sc.gaps()
					require.Len(t, gaps, 1)
					assert.GreaterOrEqual(t, gaps[0], tc.want)
					assert.Less(t, gaps[0], tc.want+time.Second)
				})
			})
		}
		t.Run("429 is retried", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
					if n == 1 {
						return statusResponse(429, "Retry-After", "3")
					}
					return statusResponse(204)
				}}
				openAndDrain(t, fc, &Client{HTTPClient: sc.client()}, getReq(t, t.Context(), "http://127.0.0.1/"))
				require.Equal(t, 2, sc.count())
				assert.GreaterOrEqual(t, sc.gaps()[0], 3*time.Second)
			})
		})
	})
}

func TestNoContentStopsForGood(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
				if n == 1 {
					return streamResponse("data: one\n\n")
				}
				return statusResponse(204)
			}}
			evs, err := openAndDrain(t, fc, &Client{HTTPClient: sc.client()}, getReq(t, t.Context(), "http://127.0.0.1/"))
			assert.Equal(t, []Event{{Type: "message", Data: "one"}}, evs)
			assert.NoError(t, err)
			time.Sleep(5 * time.Second) // virtual: proves no attempt follows
			assert.Equal(t, 2, sc.count())
		})
	})
}

func TestGiveUpPolicies(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		t.Run("MaxRetries", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := &scriptedTransport{response: func(int, *http.Request) *http.Response { return statusResponse(502) }}
				_, err := connectVia(fc, &Client{HTTPClient: sc.client(), MaxRetries: 4}, t.Context(), "http://127.0.0.1/")
				require.Error(t, err)
				var st *StatusError
				require.ErrorAs(t, err, &st)
				assert.Equal(t, 502, st.Code)
				assert.Equal(t, 4, sc.count())
				assert.Contains(t, err.Error(), "gave up after 4")
			})
		})
		t.Run("MaxElapsed", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := &scriptedTransport{response: func(int, *http.Request) *http.Response { return statusResponse(500) }}
				start := time.Now()
				_, err := connectVia(fc, &Client{HTTPClient: sc.client(), MaxElapsed: time.Minute}, t.Context(), "http://127.0.0.1/")
				require.Error(t, err)
				assert.LessOrEqual(t, time.Since(start), time.Minute)
				assert.Greater(t, sc.count(), 3)
			})
		})
		t.Run("factory", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := &scriptedTransport{response: func(int, *http.Request) *http.Response { return statusResponse(500) }}
				calls := 0
				c := &Client{HTTPClient: sc.client(), Backoff: func() backoff.BackOff {
					calls++
					return backoff.WithMaxRetries(backoff.NewConstantBackOff(2*time.Second), 2)
				}}
				_, err := connectVia(fc, c, t.Context(), "http://127.0.0.1/")
				require.Error(t, err)
				assert.Equal(t, 1, calls)
				assert.Equal(t, 3, sc.count())
				for _, g := range sc.gaps() {
					assert.Equal(t, 2*time.Second, g)
				}
			})
		})
		t.Run("default never gives up", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := &scriptedTransport{response: func(int, *http.Request) *http.Response { return statusResponse(503) }}
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Hour)
				defer cancel()
				_, err := connectVia(fc, &Client{HTTPClient: sc.client()}, ctx, "http://127.0.0.1/")
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				// 2 h at a 30 s cap (plus jitter) is well over 100 attempts.
				assert.Greater(t, sc.count(), 150)
				for _, g := range sc.gaps() {
					assert.LessOrEqual(t, g, 45*time.Second)
				}
			})
		})
	})
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			auth := &rotatingAuth{}
			sc := &scriptedTransport{response: func(n int, req *http.Request) *http.Response {
				if req.Header.Get("Authorization") == "Bearer t2" {
					if n == 2 {
						return streamResponse("data: in\n\n")
					}
				}
				return statusResponse(401)
			}}
			c := &Client{HTTPClient: sc.client(), Auth: auth}
			evs, err := openAndDrain(t, fc, c, getReq(t, t.Context(), "http://127.0.0.1/"))
			assert.Len(t, evs, 1)
			// The stream dropped; the reconnect got 401 (t2 now refused),
			// a refresh to t3, then 401 again: permanent.
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			var pe *PermanentError
			require.ErrorAs(t, err, &pe)
			var st *StatusError
			require.ErrorAs(t, err, &st)
			assert.Equal(t, 401, st.Code)
			assert.Equal(t, 4, sc.count())
			gaps := sc.gaps()
			// The retry after a 401 is paced like any other: the first
			// failure waits the reconnection time plus jitter.
			for _, i := range []int{0, 2} {
				assert.GreaterOrEqual(t, gaps[i], time.Second)
				assert.LessOrEqual(t, gaps[i], 1500*time.Millisecond)
			}
			assert.Equal(t, 2, auth.refreshes())
		})
	})
}

// rotatingAuth is a bearer source whose token changes on each Refresh.
type rotatingAuth struct {
	mu      sync.Mutex
	n       int
	refresh int
	block   bool
}

func (a *rotatingAuth) Authorize(ctx context.Context, req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		a.n = 1
	}
	req.Header.Set("Authorization", "Bearer t"+string(rune('0'+a.n)))
	return nil
}

func (a *rotatingAuth) Refresh(ctx context.Context, _ *http.Response) error {
	a.mu.Lock()
	a.refresh++
	a.n++
	block := a.block
	a.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (a *rotatingAuth) refreshes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refresh
}

func TestAuthErrorsRetriedUnlessPermanent(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{response: func(int, *http.Request) *http.Response { return statusResponse(204) }}
			calls := 0
			auth := authFunc(func() error {
				calls++
				if calls < 3 {
					return errors.New("token endpoint unavailable")
				}
				return &PermanentError{Err: errors.New("sse: client revoked")}
			})
			_, err := connectVia(fc, &Client{HTTPClient: sc.client(), Auth: auth}, t.Context(), "http://127.0.0.1/")
			var ae *AuthError
			require.ErrorAs(t, err, &ae)
			assert.True(t, isPermanent(err))
			assert.Equal(t, 3, calls)
			assert.Equal(t, 0, sc.count(), "no request without credentials")
		})
	})
}

func TestIdleTimeoutReconnects(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{}
			sc.response = func(n int, req *http.Request) *http.Response {
				if n > 2 {
					return statusResponse(204)
				}
				pr, pw := io.Pipe()
				go func() {
					// A comment every 20 s keeps the first connection alive
					// past the 30 s idle timeout; then silence.
					io.WriteString(pw, "id: "+string(rune('0'+n))+"\ndata: x\n\n")
					for i := 0; i < 3 && n == 1; i++ {
						select {
						case <-time.After(20 * time.Second):
							io.WriteString(pw, ": ping\n")
						case <-req.Context().Done():
						}
					}
					<-req.Context().Done()
					pw.CloseWithError(req.Context().Err())
				}()
				resp := streamResponse("")
				resp.Body = pr
				return resp
			}
			var comments []string
			c := &Client{HTTPClient: sc.client(), IdleTimeout: 30 * time.Second, OnComment: func(s string) { comments = append(comments, s) }}
			evs, _ := openAndDrain(t, fc, c, getReq(t, t.Context(), "http://127.0.0.1/"))
			assert.Len(t, evs, 2)
			assert.Equal(t, []string{"ping", "ping", "ping"}, comments)
			gaps := sc.gaps()
			require.Len(t, gaps, 2)
			// 60 s of pings, then 30 s of silence, then the delay.
			assert.GreaterOrEqual(t, gaps[0], 90*time.Second)
			assert.Less(t, gaps[0], 92*time.Second)
			assert.Equal(t, "1", sc.reqs[1].Header.Get("Last-Event-ID"))
		})
	})
}

func TestSlowConsumerDoesNotTripIdleTimeout(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			var body strings.Builder
			for i := 0; i < 100; i++ {
				body.WriteString("data: e\n\n")
			}
			sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
				if n == 1 {
					return streamResponse(body.String())
				}
				return statusResponse(204)
			}}
			c := &Client{HTTPClient: sc.client(), IdleTimeout: time.Second}
			s, err := connectVia(fc, c, t.Context(), "http://127.0.0.1/")
			require.NoError(t, err)
			time.Sleep(time.Minute) // the consumer is away; the reader waits
			assert.Equal(t, 1, sc.count())
			assert.Len(t, drainEvents(s), 100)
		})
	})
}

func TestMaxConnAgeReconnects(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{}
			sc.response = func(n int, req *http.Request) *http.Response {
				if n > 3 {
					return statusResponse(204)
				}
				pr, pw := io.Pipe()
				go func() {
					io.WriteString(pw, "id: "+string(rune('a'+n))+"\ndata: x\n\n")
					<-req.Context().Done()
					pw.CloseWithError(req.Context().Err())
				}()
				resp := streamResponse("")
				resp.Body = pr
				return resp
			}
			c := &Client{HTTPClient: sc.client(), MaxConnAge: time.Minute, IdleTimeout: -1}
			openAndDrain(t, fc, c, getReq(t, t.Context(), "http://127.0.0.1/"))
			// Each connection lives a minute, then the usual pacing follows.
			gaps := sc.gaps()
			require.Len(t, gaps, 3)
			assertGapsWithin(t, gaps, time.Minute+time.Second, time.Minute+1500*time.Millisecond)
			assert.Equal(t, "c", sc.reqs[2].Header.Get("Last-Event-ID"))
		})
	})
}

func TestAuthExpiredEventRefreshesAndResumes(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			auth := &rotatingAuth{}
			sc := &scriptedTransport{response: func(n int, req *http.Request) *http.Response {
				switch n {
				case 1:
					return streamResponse("id: 7\ndata: a\n\nevent: auth_expired\ndata: bye\n\n")
				case 2:
					return streamResponse("id: 8\ndata: b\n\n")
				}
				return statusResponse(204)
			}}
			evs, _ := openAndDrain(t, fc, &Client{HTTPClient: sc.client(), Auth: auth}, getReq(t, t.Context(), "http://127.0.0.1/"))
			assert.Equal(t, []Event{{"message", "a", "7"}, {"message", "b", "8"}}, evs)
			// Paced: the connection delivered an event, so the reconnection
			// time plus jitter.
			assert.GreaterOrEqual(t, sc.gaps()[0], time.Second)
			assert.LessOrEqual(t, sc.gaps()[0], 1500*time.Millisecond)
			assert.Equal(t, "7", sc.reqs[1].Header.Get("Last-Event-ID"))
			assert.Equal(t, "Bearer t2", sc.reqs[1].Header.Get("Authorization"))
		})
	})
}

func TestReconnectAndOnAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := &scriptedTransport{}
		sc.response = func(n int, req *http.Request) *http.Response {
			if n == 2 {
				return statusResponse(503)
			}
			if n > 3 {
				return statusResponse(204)
			}
			pr, pw := io.Pipe()
			go func() {
				io.WriteString(pw, "data: x\n\n")
				<-req.Context().Done()
				pw.CloseWithError(req.Context().Err())
			}()
			resp := streamResponse("")
			resp.Body = pr
			return resp
		}
		var mu sync.Mutex
		var attempts []Attempt
		c := &Client{HTTPClient: sc.client(), IdleTimeout: -1,
			OnAttempt: func(a Attempt) { mu.Lock(); attempts = append(attempts, a); mu.Unlock() }}
		s, err := c.Connect(t.Context(), "http://127.0.0.1/?token=secret")
		require.NoError(t, err)
		<-s.Events()
		s.Reconnect() // closes the open connection; attempt 2 gets 503
		<-s.Events()
		s.Reconnect()
		drainEvents(s)
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, attempts, 6)
		assert.NoError(t, attempts[0].Err)
		assert.Equal(t, 200, attempts[0].StatusCode)
		assert.Equal(t, "http://127.0.0.1/?token=REDACTED", attempts[0].URL)
		// The forced end of a connection that delivered: no failure.
		assert.True(t, attempts[1].Ended)
		assert.ErrorIs(t, attempts[1].Err, errForced)
		assert.Equal(t, 0, attempts[1].N)
		var st *StatusError
		require.ErrorAs(t, attempts[2].Err, &st)
		assert.Equal(t, 503, attempts[2].StatusCode)
		assert.Equal(t, 1, attempts[2].N)
		assert.NoError(t, attempts[3].Err)
		assert.Equal(t, 2, attempts[3].N)
		assert.True(t, attempts[4].Ended)
		assert.True(t, attempts[5].Final)
		assert.NoError(t, attempts[5].Err)
		// Reconnect is paced like every other path.
		assertGapsWithin(t, sc.gaps(), time.Second, 1500*time.Millisecond)
	})
}

func TestLastEventIDPersistsAcrossConnections(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		synctest.Test(t, func(t *testing.T) {
			sc := &scriptedTransport{response: func(n int, _ *http.Request) *http.Response {
				switch n {
				case 1:
					return streamResponse("id: 41\ndata: a\n\nid: 42\n\n") // an id-only block at the end
				case 2:
					return streamResponse("data: b\n\nid\ndata: c\n\n") // no id, then a reset
				case 3:
					return streamResponse("data: d\n\n")
				}
				return statusResponse(204)
			}}
			evs, _ := openAndDrain(t, fc, &Client{HTTPClient: sc.client(), LastEventID: "40"}, getReq(t, t.Context(), "http://127.0.0.1/"))
			assert.Equal(t, []Event{{"message", "a", "41"}, {"message", "b", "42"}, {"message", "c", ""}, {"message", "d", ""}}, evs)
			var sent []string
			for _, r := range sc.reqs {
				sent = append(sent, r.Header.Get("Last-Event-ID"))
			}
			assert.Equal(t, []string{"40", "42", "", ""}, sent)
		})
	})
}
