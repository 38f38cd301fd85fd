package sse

// This file holds the I/O of one connection attempt: building and sending
// the request, classifying the response, and what surrounds an attempt
// (Client.Resume's request, AuthSource.Refresh, Stream.Reconnect's cut).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxErrorBody is how much of a refused response's body StatusError.Body
// keeps, and maxErrorBodyWait how long the client waits for it.
const (
	maxErrorBody     = 4 << 10
	maxErrorBodyWait = 5 * time.Second
)

// prepareResume asks Client.Resume for the request that resumes the
// stream. done is true when the stream ended (Resume declined, or ctx
// ended); a non-zero outcome reports a failure.
func (r *runner) prepareResume(ctx context.Context) (done bool, o outcome) {
	req, err := r.cfg.resume(ctx, r.lastID)
	switch {
	case ctx.Err() != nil:
		return true, outcome{}
	case err != nil:
		return false, outcome{kind: unsent, err: fmt.Errorf("sse: Client.Resume: %w", err)}
	case req == nil:
		r.finish(nil)
		r.cfg.log.Info("sse: stream ended; Client.Resume declined to resume it", "url", r.redacted)
		return true, outcome{}
	}
	if req.URL == nil {
		return false, outcome{kind: unsent, err: &PermanentError{Err: errors.New("sse: Client.Resume returned a request without a URL")}}
	}
	tmpl, err := newTemplate(req, r.cfg)
	if err != nil {
		return false, outcome{kind: unsent, err: err}
	}
	r.tmpl, r.redacted = tmpl, redactURL(tmpl.url)
	return false, outcome{}
}

// open makes one connection attempt. It returns the response of an opened
// stream, or the outcome of a failed attempt.
func (r *runner) open(ctx context.Context) (*http.Response, outcome) {
	actx, cancel := context.WithCancelCause(ctx)
	r.setAttemptCancel(cancel)
	r.cfg.log.Debug("sse: connecting", "url", r.redacted, "attempt", r.pol.fails+1)

	req, secrets, err := r.newRequest(actx)
	if err != nil {
		cancel(nil)
		return nil, outcome{kind: unsent, err: err}
	}
	var wrote atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteHeaderField: func(string, []string) { wrote.Store(true) },
	}))
	// The header timeout cuts the attempt only if it fires before the
	// response arrived: the state makes the two exclusive.
	var state atomic.Int32 // 0 waiting, 1 answered, 2 timed out
	if r.headerTimeout > 0 {
		t := time.AfterFunc(r.headerTimeout, func() {
			if state.CompareAndSwap(0, 2) {
				cancel(errHeaderTimeout)
			}
		})
		defer t.Stop()
	}
	resp, err := r.hc.Do(req)
	if err == nil && !state.CompareAndSwap(0, 1) {
		resp.Body.Close()
		err = errHeaderTimeout
	}
	if err != nil {
		err = r.transportError(actx, req, err, secrets)
		cancel(nil)
		kind := broken
		if !wrote.Load() {
			kind = unsent
		}
		return nil, outcome{kind: kind, err: err}
	}
	if resp.StatusCode == http.StatusNoContent {
		resp.Body.Close()
		cancel(nil)
		return nil, outcome{kind: noContent, resp: resp}
	}
	// A refused response's body is read only for maxErrorBodyWait: a
	// server that stalls it cannot hold the stream.
	bodyTimer := time.AfterFunc(maxErrorBodyWait, func() { cancel(errHeaderTimeout) })
	err = r.classify(resp)
	bodyTimer.Stop()
	if err != nil {
		o := outcome{kind: refused, err: err, status: resp.StatusCode, resp: resp}
		o.retryAfter = retryAfter(err)
		switch strings.ToLower(resp.Header.Get("X-Should-Retry")) {
		case "true":
			o.shouldRetry = 1
		case "false":
			o.shouldRetry = -1
		}
		resp.Body.Close()
		cancel(nil)
		return nil, o
	}
	return resp, outcome{}
}

// classify decides what a response other than 204 means: nil when it
// opens the stream. A refused response's body is read, up to maxErrorBody,
// into the StatusError.
func (r *runner) classify(resp *http.Response) error {
	st := &StatusError{Code: resp.StatusCode, URL: r.redacted, Header: resp.Header}
	var err error = st
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		ct := resp.Header.Get("Content-Type")
		mt, _, perr := mime.ParseMediaType(ct)
		if perr == nil && mt == "text/event-stream" {
			return nil
		}
		st.ContentType = ct
		err = &PermanentError{Err: st}
	case code == http.StatusUnauthorized:
	case code == http.StatusTooManyRequests || code >= 500:
		st.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		err = &PermanentError{Err: st}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if len(body) > 0 {
		st.Body = body
	}
	return err
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
// It is safe to call from any goroutine.
func (r *runner) forceReconnect() {
	r.mu.Lock()
	c := r.attemptCancel
	r.mu.Unlock()
	if c != nil {
		c(errForced)
	}
}
