package sse

import (
	"context"
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reconnect policy, one named row per rule of DESIGN.md "Connection
// rules" and "Auth sources", without any HTTP. Jitter is switched off
// (identity) unless a row is about it, so delays are exact.

var (
	errNet     = errors.New("sse: dial tcp: connection refused")
	errReset   = errors.New("sse: read: connection reset by peer")
	st401      = &StatusError{Code: 401}
	outNet     = outcome{kind: unsent, err: errNet}
	outDeliver = outcome{kind: ended, delivered: true, hasID: true}
	outEmpty   = outcome{kind: ended}
	outLost    = outcome{kind: lost, err: errReset, delivered: true, hasID: true}
)

func refusedWith(code int) outcome {
	var err error = &StatusError{Code: code}
	if code == 403 || code == 400 {
		err = &PermanentError{Err: err}
	}
	return outcome{kind: refused, status: code, err: err}
}

// testPolicy is a policy with the defaults of a zero Client, changed by
// opts, and no jitter.
func testPolicy(finite bool, opts ...func(*settings)) *policy {
	c := &Client{}
	cfg, err := c.settings()
	if err != nil {
		panic(err)
	}
	for _, o := range opts {
		o(cfg)
	}
	p := newPolicy(cfg, finite)
	p.jitter = func(d time.Duration) time.Duration { return d }
	return p
}

func withAuth(c *settings) { c.auth = StaticHeaders(http.Header{"X-Key": {"k"}}) }
func withResume(c *settings) {
	c.resume = func(context.Context, string) (*http.Request, error) { return nil, nil }
}

// step feeds outcomes one after another and returns the last decision.
func step(p *policy, now time.Time, outs ...outcome) decision {
	var d decision
	for i, o := range outs {
		d = p.decide(now.Add(time.Duration(i)*time.Second), o)
	}
	return d
}

func TestPolicy(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type want struct {
		act     action
		delay   time.Duration // exact, when not 0
		errIs   error         // errors.Is target, when not nil
		noErr   bool          // the stream ends normally
		perm    bool          // the error is permanent
		refresh bool
		resume  bool
		fails   int // when not -1
	}
	rows := []struct {
		name   string
		p      *policy
		before []outcome
		o      outcome
		want   want
	}{
		// Responses before the stream opens.
		{"204 ends the stream normally", testPolicy(false), nil, outcome{kind: noContent},
			want{act: stop, noErr: true, fails: -1}},
		{"403 and other 4xx are permanent", testPolicy(false), nil, refusedWith(403),
			want{act: stop, perm: true, fails: 1}},
		{"first 401 refreshes, then retries with the usual pacing", testPolicy(false, withAuth), nil, refusedWith(401),
			want{act: reconnect, delay: time.Second, refresh: true, fails: 1}},
		{"second 401 in a row is permanent", testPolicy(false, withAuth), []outcome{refusedWith(401)}, refusedWith(401),
			want{act: stop, perm: true, errIs: st401, fails: 2}},
		{"401 without an AuthSource is permanent", testPolicy(false), nil, refusedWith(401),
			want{act: stop, perm: true, fails: 1}},
		{"5xx grows the delay exponentially", testPolicy(false), []outcome{refusedWith(500), refusedWith(502)}, refusedWith(503),
			want{act: reconnect, delay: 4 * time.Second, fails: 3}},
		{"Retry-After lengthens the delay", testPolicy(false), nil, outcome{kind: refused, status: 429, err: &StatusError{Code: 429}, retryAfter: 7 * time.Second},
			want{act: reconnect, delay: 7 * time.Second, fails: 1}},
		{"Retry-After is capped by MaxRetryDelay", testPolicy(false), nil, outcome{kind: refused, status: 503, err: &StatusError{Code: 503}, retryAfter: 300 * 24 * time.Hour},
			want{act: reconnect, delay: 30 * time.Second, fails: 1}},
		{"growth is capped by MaxRetryDelay", testPolicy(false), repeat(refusedWith(500), 10), refusedWith(500),
			want{act: reconnect, delay: 30 * time.Second, fails: 11}},
		{"network errors are retried", testPolicy(false), nil, outNet,
			want{act: reconnect, delay: time.Second, fails: 1}},
		{"a permanent transport error (TLS certificate) ends the stream", testPolicy(false), nil, outcome{kind: broken, err: &PermanentError{Err: errNet}},
			want{act: stop, perm: true, fails: 1}},

		// Connections that opened.
		{"a connection that delivered waits the reconnection time, with no growth", testPolicy(false), repeat(outDeliver, 5), outDeliver,
			want{act: reconnect, delay: time.Second, fails: 0}},
		{"a connection that delivered resets the growth", testPolicy(false), []outcome{refusedWith(500), refusedWith(500), refusedWith(500)}, outDeliver,
			want{act: reconnect, delay: time.Second, fails: 0}},
		{"a connection that delivered nothing is a failure and grows the delay", testPolicy(false), []outcome{outEmpty, outEmpty}, outEmpty,
			want{act: reconnect, delay: 4 * time.Second, fails: 3}},
		{"a lost connection that delivered reconnects at the reconnection time", testPolicy(false), nil, outLost,
			want{act: reconnect, delay: time.Second, errIs: errReset, fails: 0}},
		{"an idle connection is a loss", testPolicy(false), nil, outcome{kind: lost, err: errIdle},
			want{act: reconnect, delay: time.Second, errIs: errIdle, fails: 1}},
		{"maximum age reconnects with the usual pacing", testPolicy(false), nil, outcome{kind: aged, err: errMaxAge, delivered: true},
			want{act: reconnect, delay: time.Second, errIs: errMaxAge, fails: 0}},
		{"Reconnect reconnects with the usual pacing", testPolicy(false), []outcome{outEmpty}, outcome{kind: forced, err: errForced},
			want{act: reconnect, delay: 2 * time.Second, errIs: errForced, fails: 2}},
		{"a line or event over the limit is permanent", testPolicy(false), nil, outcome{kind: tooLarge, err: &ParseError{Err: ErrEventTooLarge}},
			want{act: stop, perm: true, errIs: ErrEventTooLarge, fails: -1}},

		// The server's retry: field.
		{"retry: is the reconnection time", retryPolicy(1200 * time.Millisecond), nil, outDeliver,
			want{act: reconnect, delay: 1200 * time.Millisecond, fails: 0}},
		{"retry: is capped by MaxRetryDelay", retryPolicy(time.Duration(math.MaxInt64)), nil, outDeliver,
			want{act: reconnect, delay: 30 * time.Second, fails: 0}},
		{"retry: 0 is raised to the floor", retryPolicy(0), nil, outDeliver,
			want{act: reconnect, delay: 500 * time.Millisecond, fails: 0}},
		{"retry: 0 and a server that closes at once still grow", retryPolicy(0), repeat(outEmpty, 4), outEmpty,
			want{act: reconnect, delay: 8 * time.Second, fails: 5}}, // 0.5 s floor, doubled four times
		{"retry: is the start of the growth", retryPolicy(3 * time.Second), []outcome{refusedWith(503)}, refusedWith(503),
			want{act: reconnect, delay: 6 * time.Second, fails: 2}},

		// auth_expired.
		{"auth_expired refreshes, then reconnects with the usual pacing", testPolicy(false, withAuth), nil, outcome{kind: expired, err: errAuthExpired, delivered: true},
			want{act: reconnect, delay: time.Second, refresh: true, fails: 0}},
		{"auth_expired again with no event in between is a failure", testPolicy(false, withAuth), repeat(outcome{kind: expired, err: errAuthExpired}, 3), outcome{kind: expired, err: errAuthExpired},
			want{act: reconnect, delay: 8 * time.Second, refresh: true, fails: 4}},

		// Giving up.
		{"MaxRetries gives up after that many failures in a row", testPolicy(false, func(c *settings) { c.maxRetries = 3 }), []outcome{outNet, outEmpty}, refusedWith(500),
			want{act: stop, errIs: &StatusError{Code: 500}, fails: 3}},
		{"MaxRetries counts connections that delivered nothing", testPolicy(false, withAuth, func(c *settings) { c.maxRetries = 2 }), []outcome{{kind: expired, err: errAuthExpired}}, outcome{kind: expired, err: errAuthExpired},
			want{act: stop, errIs: errAuthExpired, fails: 2}},
		{"MaxElapsed gives up when the next wait would end too late", testPolicy(false, func(c *settings) { c.maxElapsed = 5 * time.Second }), []outcome{outNet, outNet}, outNet,
			want{act: stop, errIs: errNet, fails: 3}},
		{"MaxElapsed does not overflow with a huge delay", func() *policy {
			p := testPolicy(false, func(c *settings) {
				c.maxElapsed = time.Minute
				c.newBackOff = func() backoff.BackOff { return backoff.NewConstantBackOff(time.Duration(math.MaxInt64)) }
			})
			return p
		}(), nil, outNet, want{act: stop, errIs: errNet, fails: 1}},
		{"a custom Backoff's Stop gives up", testPolicy(false, func(c *settings) { c.newBackOff = func() backoff.BackOff { return &backoff.StopBackOff{} } }), nil, outNet,
			want{act: stop, errIs: errNet, fails: 1}},
		{"a custom Backoff's delays are used without jitter", testPolicy(false, func(c *settings) {
			c.newBackOff = func() backoff.BackOff { return backoff.NewConstantBackOff(3 * time.Second) }
		}), []outcome{outNet}, outNet, want{act: reconnect, delay: 3 * time.Second, fails: 2}},

		// Finite streams (a POST).
		{"finite: the server's end ends the stream normally", testPolicy(true), nil, outDeliver,
			want{act: stop, noErr: true, fails: -1}},
		{"finite: a loss ends the stream with ErrStreamLost", testPolicy(true), nil, outLost,
			want{act: stop, errIs: ErrStreamLost, fails: -1}},
		{"finite: idle, maximum age and Reconnect end it too", testPolicy(true), nil, outcome{kind: forced, err: errForced, delivered: true},
			want{act: stop, errIs: ErrStreamLost, fails: -1}},
		{"finite: auth_expired without Resume ends it", testPolicy(true, withAuth), nil, outcome{kind: expired, err: errAuthExpired, delivered: true},
			want{act: stop, errIs: ErrStreamLost, fails: -1}},
		{"finite: nothing sent (dial error) is retried", testPolicy(true), nil, outNet,
			want{act: reconnect, delay: time.Second, fails: 1}},
		{"finite: a failure after the request was sent is final", testPolicy(true), nil, outcome{kind: broken, err: errReset},
			want{act: stop, perm: true, errIs: errReset, fails: 1}},
		{"finite: 503 is retried (the server did not act)", testPolicy(true), nil, refusedWith(503),
			want{act: reconnect, delay: time.Second, fails: 1}},
		{"finite: 429 is retried", testPolicy(true), nil, refusedWith(429),
			want{act: reconnect, delay: time.Second, fails: 1}},
		{"finite: 408 is retried", testPolicy(true), nil, refusedWith(408),
			want{act: reconnect, delay: time.Second, fails: 1}},
		{"finite: 500 is final (the server may have acted)", testPolicy(true), nil, refusedWith(500),
			want{act: stop, perm: true, fails: 1}},
		{"finite: 502 and 504 are final", testPolicy(true), nil, refusedWith(504),
			want{act: stop, perm: true, fails: 1}},
		{"finite: X-Should-Retry: true makes a 500 retried", testPolicy(true), nil, outcome{kind: refused, status: 500, err: &StatusError{Code: 500}, shouldRetry: 1},
			want{act: reconnect, delay: time.Second, fails: 1}},
		{"finite: X-Should-Retry: false makes a 503 final", testPolicy(true), nil, outcome{kind: refused, status: 503, err: &StatusError{Code: 503}, shouldRetry: -1},
			want{act: stop, perm: true, fails: 1}},
		{"finite: 401 refreshes and retries", testPolicy(true, withAuth), nil, refusedWith(401),
			want{act: reconnect, delay: time.Second, refresh: true, fails: 1}},
		{"finite with Resume: a loss resumes", testPolicy(true, withResume), nil, outLost,
			want{act: reconnect, delay: time.Second, resume: true, fails: 0}},
		{"finite with Resume: the server's end resumes too (MCP polling)", testPolicy(true, withResume), nil, outDeliver,
			want{act: reconnect, delay: time.Second, resume: true, fails: 0}},
		{"finite with Resume but no event ID ends normally", testPolicy(true, withResume), nil, outcome{kind: ended, delivered: true},
			want{act: stop, noErr: true, fails: -1}},
		{"finite, resuming: failures are retried like a GET's", testPolicy(true, withResume), []outcome{outLost}, outcome{kind: broken, err: errReset},
			want{act: reconnect, delay: time.Second, resume: true, fails: 1}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			p := row.p
			if len(row.before) > 0 {
				step(p, t0, row.before...)
			}
			d := p.decide(t0.Add(time.Duration(len(row.before))*time.Second), row.o)
			require.Equal(t, row.want.act, d.act, "action (err %v)", d.err)
			if row.want.delay != 0 {
				assert.Equal(t, row.want.delay, d.delay)
			}
			if row.want.noErr {
				assert.NoError(t, d.err)
			}
			if row.want.errIs != nil {
				if st, ok := row.want.errIs.(*StatusError); ok {
					var got *StatusError
					require.ErrorAs(t, d.err, &got)
					assert.Equal(t, st.Code, got.Code)
				} else {
					assert.ErrorIs(t, d.err, row.want.errIs)
				}
			}
			if row.want.act == stop && !row.want.noErr {
				require.Error(t, d.err)
			}
			assert.Equal(t, row.want.perm, d.err != nil && isPermanent(d.err), "permanent (err %v)", d.err)
			assert.Equal(t, row.want.refresh, d.refresh, "refresh")
			assert.Equal(t, row.want.resume, d.resume, "resume")
			if row.want.fails >= 0 {
				assert.Equal(t, row.want.fails, d.fails, "fails")
			}
		})
	}
}

// TestPolicyRetryAfterOpenResets401 checks that the 401 count starts again
// after a good open.
func TestPolicyRetryAfterOpenResets401(t *testing.T) {
	p := testPolicy(false, withAuth)
	now := time.Now()
	require.Equal(t, reconnect, p.decide(now, refusedWith(401)).act)
	p.opened()
	d := p.decide(now, refusedWith(401))
	assert.Equal(t, reconnect, d.act)
	assert.True(t, d.refresh)
}

// TestPolicyJitterOnlyAdds checks the real jitter: at least the delay, at
// most half of it more.
func TestPolicyJitterOnlyAdds(t *testing.T) {
	p := testPolicy(false)
	p.jitter = addJitter
	p.setRetry(1200 * time.Millisecond)
	for range 1000 {
		d := p.decide(time.Now(), outDeliver)
		require.Equal(t, reconnect, d.act)
		require.GreaterOrEqual(t, d.delay, 1200*time.Millisecond)
		require.LessOrEqual(t, d.delay, 1800*time.Millisecond)
	}
	assert.Equal(t, time.Duration(math.MaxInt64), addJitter(math.MaxInt64), "saturates")
}

// TestFiniteByMethod checks which methods are finite by default (RFC 9110
// section 9.2.2's idempotent methods are not).
func TestFiniteByMethod(t *testing.T) {
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"} {
		assert.False(t, isFinite(LifecycleByMethod, m), m)
		assert.True(t, isFinite(Finite, m), m)
	}
	for _, m := range []string{"POST", "PATCH", "REPORT", "CONNECT"} {
		assert.True(t, isFinite(LifecycleByMethod, m), m)
		assert.False(t, isFinite(Resumable, m), m)
	}
}

func repeat(o outcome, n int) []outcome {
	out := make([]outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

func retryPolicy(d time.Duration) *policy {
	p := testPolicy(false)
	p.setRetry(d)
	return p
}
