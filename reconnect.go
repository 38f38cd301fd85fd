package sse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Causes with which the client cancels one connection attempt while the
// Stream goes on.
var (
	errIdle          = errors.New("sse: no bytes received within the idle timeout")
	errForced        = errors.New("sse: reconnect requested")
	errMaxAge        = errors.New("sse: connection reached its maximum age")
	errHeaderTimeout = errors.New("sse: no response headers within HTTPClient.Timeout")
	errAuthExpired   = errors.New("sse: server signalled expired credentials")
	errNoContent     = errors.New("sse: server answered 204 No Content")
)

// runner is the one goroutine of a Stream and its reconnect loop.
type runner struct {
	cfg           *settings
	s             *Stream
	tmpl          *template
	hc            *http.Client
	headerTimeout time.Duration
	ready         chan error
	readySent     bool
	redacted      string // the template URL, redacted, for logs

	bo         backoff.BackOff
	own        *backoff.ExponentialBackOff // bo when it is the built-in policy
	fresh      bool                        // own was reset and has not grown since
	retry      time.Duration               // the server's retry:, if hasRetry
	hasRetry   bool
	callerRefr bool // the caller set a Referer

	mu            sync.Mutex // guards attemptCancel, which Stream.Reconnect calls
	attemptCancel context.CancelCauseFunc
}

// run is the Stream's goroutine: it connects, reads, and reconnects until
// the stream ends for good.
func (r *runner) run(ctx context.Context) {
	var endErr error
	defer func() { r.finish(ctx, endErr) }()

	r.redacted = redactURL(r.tmpl.url)
	r.callerRefr = r.tmpl.header.Get("Referer") != ""
	r.initBackOff()
	r.s.attach(r)

	var (
		fails       int       // failed attempts since the last good open
		streakStart time.Time // when the current run of failures began
		rejected    bool      // a 401 since the last good open
	)
	for {
		r.drainForce()
		resp, err := r.open(ctx, fails+1)
		if err == nil {
			r.report(Attempt{N: fails + 1, URL: r.redacted})
			r.cfg.log.Info("sse: connected", "url", r.redacted)
			if !r.readySent {
				r.readySent = true
				r.ready <- nil
			}
			fails, streakStart, rejected = 0, time.Time{}, false
			opened := time.Now()
			why := r.read(ctx, resp)
			if ctx.Err() != nil {
				endErr = ctx.Err()
				return
			}
			if time.Since(opened) >= r.cfg.healthy {
				r.resetBackOff()
			}
			switch {
			case errors.Is(why, ErrEventTooLarge):
				endErr = &PermanentError{Err: why}
				r.report(Attempt{N: 1, URL: r.redacted, Err: endErr, Final: true})
				return
			case why == errForced || why == errMaxAge:
				r.cfg.log.Info("sse: reconnecting", "url", r.redacted, "reason", why.Error())
				continue
			case why == errAuthExpired:
				r.cfg.log.Info("sse: credentials expired; refreshing", "url", r.redacted)
				if err = r.refresh(ctx, resp); err == nil {
					continue
				}
			default:
				err = r.lostError(why)
			}
		} else {
			fails++
			if errors.Is(err, errNoContent) {
				r.report(Attempt{N: fails, URL: r.redacted, Err: err, Final: true})
				r.cfg.log.Info("sse: server ended the stream with 204", "url", r.redacted)
				return
			}
			if errors.Is(err, errForced) {
				continue
			}
			var st *StatusError
			if errors.As(err, &st) && st.Code == http.StatusUnauthorized && ctx.Err() == nil {
				if rejected {
					err = &PermanentError{Err: &AuthError{Op: "rejected", Err: err}}
				} else {
					rejected = true
					r.report(Attempt{N: fails, URL: r.redacted, Err: err})
					r.cfg.log.Info("sse: 401; refreshing credentials", "url", r.redacted)
					if err = r.refresh(ctx, resp); err == nil {
						continue
					}
				}
			}
		}
		if ctx.Err() != nil {
			endErr = ctx.Err()
			return
		}
		if isPermanent(err) {
			endErr = err
			r.report(Attempt{N: fails, URL: r.redacted, Err: err, Final: true})
			r.cfg.log.Warn("sse: stream failed for good", "url", r.redacted, "err", err.Error())
			return
		}
		if streakStart.IsZero() {
			streakStart = time.Now()
		}
		delay, stop := r.nextDelay(retryAfter(err))
		if stop || (r.cfg.maxRetries > 0 && fails >= r.cfg.maxRetries) ||
			(r.cfg.maxElapsed > 0 && time.Since(streakStart)+delay > r.cfg.maxElapsed) {
			endErr = fmt.Errorf("sse: gave up after %d failed attempts: %w", fails, err)
			r.report(Attempt{N: fails, URL: r.redacted, Err: endErr, Final: true})
			r.cfg.log.Warn("sse: giving up", "url", r.redacted, "attempts", fails, "err", err.Error())
			return
		}
		r.report(Attempt{N: max(fails, 1), URL: r.redacted, Err: err, Delay: delay})
		if fails == 0 {
			// An open stream ended: routine for SSE, not a failure.
			r.cfg.log.Info("sse: stream ended; reconnecting", "url", r.redacted, "reason", err.Error(), "delay", delay)
		} else {
			r.cfg.log.Warn("sse: connection failed; retrying", "url", r.redacted, "err", err.Error(), "delay", delay)
		}
		if !r.sleep(ctx, delay) {
			endErr = ctx.Err()
			return
		}
	}
}

// finish records why the stream ended and releases everyone waiting.
func (r *runner) finish(ctx context.Context, endErr error) {
	r.s.mu.Lock()
	closed := r.s.closed
	if !closed {
		if endErr == nil && ctx.Err() != nil {
			endErr = ctx.Err()
		}
		r.s.err = endErr
	}
	r.s.mu.Unlock()
	r.s.attach(nil)
	if closed {
		// Close promises that no event is delivered after it returns.
		for len(r.s.events) > 0 {
			select {
			case <-r.s.events:
			default:
			}
		}
	}
	close(r.s.events)
	if !r.readySent {
		r.readySent = true
		if closed && endErr == nil {
			endErr = errClosed
		}
		r.ready <- endErr
	}
	close(r.s.done)
}

// attach lets Stream.Reconnect reach r (nil: no longer).
func (s *Stream) attach(r *runner) {
	s.mu.Lock()
	s.r = r
	s.mu.Unlock()
}

// report passes a to the caller's OnAttempt hook.
func (r *runner) report(a Attempt) {
	if r.cfg.onAttempt != nil {
		r.cfg.onAttempt(a)
	}
}

// open makes one connection attempt. It returns the response of an opened
// stream, or an error; for a 401 it returns the (closed) response too, for
// AuthSource.Refresh.
func (r *runner) open(ctx context.Context, n int) (*http.Response, error) {
	actx, cancel := context.WithCancelCause(ctx)
	r.setAttemptCancel(cancel)
	r.cfg.log.Debug("sse: connecting", "url", r.redacted, "attempt", n)

	req, secrets, err := r.newRequest(actx)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	var timer *time.Timer
	if r.headerTimeout > 0 {
		timer = time.AfterFunc(r.headerTimeout, func() { cancel(errHeaderTimeout) })
	}
	resp, err := r.hc.Do(req)
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		err = r.transportError(actx, req, err, secrets)
		cancel(nil)
		return nil, err
	}
	if err := r.classify(resp); err != nil {
		// Drain a little so a small error body does not cost the
		// connection, then close.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
		cancel(nil)
		return resp, err
	}
	return resp, nil
}

// classify decides what a response means: nil when it opens the stream.
func (r *runner) classify(resp *http.Response) error {
	st := &StatusError{Code: resp.StatusCode, URL: r.redacted}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		ct := resp.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		if err == nil && mt == "text/event-stream" {
			return nil
		}
		st.ContentType = ct
		return &PermanentError{Err: st}
	case code == http.StatusNoContent:
		return errNoContent
	case code == http.StatusUnauthorized:
		return st
	case code == http.StatusTooManyRequests || code >= 500:
		st.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return st
	default:
		return &PermanentError{Err: st}
	}
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date. Anything else, or a date in the past, gives 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(365*24*time.Hour/time.Second) {
			secs = uint64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// retryAfter returns the Retry-After of a status error in err's chain.
func retryAfter(err error) time.Duration {
	var st *StatusError
	if errors.As(err, &st) {
		return st.RetryAfter
	}
	return 0
}

// refresh asks the AuthSource for fresh credentials after resp refused the
// current ones.
func (r *runner) refresh(ctx context.Context, resp *http.Response) error {
	if r.cfg.auth == nil {
		return &PermanentError{Err: &AuthError{Op: "rejected", Err: errors.New("sse: server answered 401 and Client.Auth is nil; set an AuthSource")}}
	}
	if err := r.cfg.auth.Refresh(ctx, resp); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *AuthError
		if !errors.As(err, &ae) {
			err = &AuthError{Op: "refresh", Err: err}
		}
		if isPermanent(err) {
			err = &PermanentError{Err: err}
		}
		return err
	}
	return nil
}

// read delivers the events of an open response until the connection ends,
// and says why it ended.
func (r *runner) read(ctx context.Context, resp *http.Response) error {
	actx := resp.Request.Context()
	cancel := r.takeAttemptCancel()
	defer cancel(nil)
	defer resp.Body.Close()

	var body io.Reader = resp.Body
	if r.cfg.idle > 0 {
		t := time.AfterFunc(r.cfg.idle, func() { cancel(errIdle) })
		defer t.Stop()
		body = &idleReader{r: resp.Body, t: t, d: r.cfg.idle}
	}
	if r.cfg.maxAge > 0 {
		t := time.AfterFunc(r.cfg.maxAge, func() { cancel(errMaxAge) })
		defer t.Stop()
	}

	p := NewParser(body)
	p.SetLimits(r.cfg.maxLine, r.cfg.maxEvent)
	lastID := r.s.LastEventID()
	p.setLastEventID(lastID)
	if r.cfg.onComment != nil {
		p.OnComment(r.cfg.onComment)
	}
	for {
		ev, err := p.Next()
		if d, ok := p.Retry(); ok && (!r.hasRetry || d != r.retry) {
			r.setRetry(d)
		}
		if err != nil {
			r.storeID(&lastID, p.LastEventID())
			if cause := context.Cause(actx); cause == errIdle || cause == errForced || cause == errMaxAge {
				return cause
			}
			return err
		}
		if ev.Type == r.cfg.authExpired {
			r.storeID(&lastID, p.LastEventID())
			return errAuthExpired
		}
		select {
		case r.s.events <- ev:
		default:
			if !r.deliverSlow(ctx, body, ev) {
				return ctx.Err()
			}
		}
		r.storeID(&lastID, p.LastEventID())
	}
}

// deliverSlow waits for a consumer that is behind. The idle timer is
// paused meanwhile: the server is not silent, the consumer is slow.
func (r *runner) deliverSlow(ctx context.Context, body io.Reader, ev Event) bool {
	ir, _ := body.(*idleReader)
	if ir != nil {
		ir.t.Stop()
		defer ir.t.Reset(ir.d)
	}
	select {
	case r.s.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// storeID publishes the parser's last event ID when it changed.
func (r *runner) storeID(cur *string, id string) {
	if id != *cur {
		*cur = id
		r.s.idMu.Lock()
		r.s.lastID = id
		r.s.idMu.Unlock()
	}
}

// idleReader resets the idle timer whenever bytes arrive.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.t.Reset(ir.d)
	}
	return n, err
}

func (r *runner) setAttemptCancel(c context.CancelCauseFunc) {
	r.mu.Lock()
	r.attemptCancel = c
	r.mu.Unlock()
}

func (r *runner) takeAttemptCancel() context.CancelCauseFunc {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.attemptCancel
	if c == nil {
		c = func(error) {}
	}
	return c
}

// forceReconnect ends the current attempt or connection with errForced.
func (r *runner) forceReconnect() {
	r.mu.Lock()
	c := r.attemptCancel
	r.mu.Unlock()
	if c != nil {
		c(errForced)
	}
}

// drainForce forgets a Reconnect request that the new attempt satisfies.
func (r *runner) drainForce() {
	select {
	case <-r.s.force:
	default:
	}
}

// sleep waits d, or less when Reconnect is called; false when ctx ended.
func (r *runner) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.s.force:
		return true
	case <-ctx.Done():
		return false
	}
}

// initBackOff builds the delay policy: the caller's factory, or an
// exponential backoff configured explicitly (never backoff/v4's defaults,
// which give up after 15 minutes).
func (r *runner) initBackOff() {
	if r.cfg.newBackOff != nil {
		r.bo = r.cfg.newBackOff()
		if r.bo == nil {
			r.bo = &backoff.ZeroBackOff{}
		}
		r.bo.Reset()
		return
	}
	base := r.base()
	r.own = backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(base),
		backoff.WithMaxInterval(max(base, r.cfg.maxDelay)),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0), // jitter is added on top, below
		backoff.WithMaxElapsedTime(0),      // never give up by itself
	)
	r.bo = r.own
	r.fresh = true
}

// base is the delay before the first reconnection: the server's retry: or
// RetryDelay, never below the floor.
func (r *runner) base() time.Duration {
	d := r.cfg.retry
	if r.hasRetry {
		d = r.retry
	}
	return max(d, r.cfg.floor, time.Millisecond)
}

// setRetry applies a retry: field from the server.
func (r *runner) setRetry(d time.Duration) {
	r.retry, r.hasRetry = d, true
	if r.own != nil {
		base := r.base()
		r.own.InitialInterval = base
		r.own.MaxInterval = max(base, r.cfg.maxDelay)
		if r.fresh {
			r.own.Reset()
		}
	}
}

func (r *runner) resetBackOff() {
	r.bo.Reset()
	r.fresh = true
}

// nextDelay returns the wait before the next attempt, and whether the
// policy gives up.
func (r *runner) nextDelay(retryAfter time.Duration) (time.Duration, bool) {
	d := r.bo.NextBackOff()
	r.fresh = false
	if d == backoff.Stop {
		return 0, true
	}
	if r.own != nil && d > 0 {
		d += rand.N(d/2 + 1) // jitter only lengthens
	}
	if r.hasRetry && d < r.retry {
		d = r.retry
	}
	d = max(d, r.cfg.floor)
	if retryAfter > 0 {
		d = max(d, min(retryAfter, r.cfg.maxDelay))
	}
	return d, false
}
