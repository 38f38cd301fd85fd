package sse

// This file holds the reconnect policy: given what one attempt or one
// connection came to (an outcome), it decides whether the stream goes on,
// how long to wait first, and with which error it ends. It does no I/O and
// reads no clock: the engine (reconnect.go) carries out what it decides,
// and policy_test.go checks one named row per rule of DESIGN.md.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// ErrStreamLost is wrapped by the error that ends a finite stream (see
// Lifecycle) whose connection broke, or was closed for another reason than
// the server ending it, after the server may have acted on the request: the
// request is not sent again. Set Client.Resume to resume such a stream
// instead.
var ErrStreamLost = errors.New("sse: finite stream lost before the server ended it")

// outcomeKind says how one attempt or one connection ended.
type outcomeKind uint8

const (
	// Before a response opened the stream.
	refused   outcomeKind = iota + 1 // a response that did not open it (status in outcome.status)
	unsent                           // failed before any byte reached the server: dial, Authorize, refresh
	broken                           // a transport failure after the request may have reached the server
	noContent                        // 204
	// After the stream opened.
	ended    // the server ended the stream (EOF)
	lost     // the connection broke, or went idle
	expired  // the server sent the auth-expired event
	aged     // Client.MaxConnAge reached
	forced   // Stream.Reconnect
	tooLarge // a line or event over the parser's limits
)

// opens reports whether k is the end of a connection that had opened.
func (k outcomeKind) opens() bool { return k >= ended }

// outcome is what one attempt or one connection came to.
type outcome struct {
	kind        outcomeKind
	err         error          // the cause, scrubbed; nil for a clean end
	status      int            // refused: the status code
	retryAfter  time.Duration  // refused: the server's Retry-After, 0 if none
	shouldRetry int8           // refused: X-Should-Retry, +1 true, -1 false, 0 absent
	delivered   bool           // an opened connection delivered at least one event
	hasID       bool           // a last event ID is known, so a resume can pick up
	resp        *http.Response // the refused or ended response, for AuthSource.Refresh
}

// action is what the engine does next.
type action uint8

const (
	reconnect action = iota + 1 // wait delay, then attempt again
	stop                        // end the stream with err (nil: normally)
)

// decision is the policy's answer to one outcome.
type decision struct {
	act     action
	delay   time.Duration // reconnect: the wait before the next attempt
	err     error         // stop: why, nil for a normal end; reconnect: the cause to report
	refresh bool          // reconnect: call AuthSource.Refresh first
	resume  bool          // reconnect: send Client.Resume's request, not the original
	fails   int           // failures in a row, this one included (0 after a connection that delivered)
}

// policy is the reconnect policy of one stream: its settings and its state.
type policy struct {
	// Settings.
	finite     bool // the original request is not re-sent once the server may have acted
	canResume  bool // Client.Resume is set
	hasAuth    bool
	base       time.Duration // Client.RetryDelay
	floor      time.Duration // Client.MinRetryDelay
	maxDelay   time.Duration // Client.MaxRetryDelay
	maxRetries int
	maxElapsed time.Duration
	bo         backoff.BackOff             // failures' delays
	own        *backoff.ExponentialBackOff // bo when it is the built-in policy
	jitter     func(d time.Duration) time.Duration

	// State.
	fails       int       // failures in a row since a connection delivered an event
	streakStart time.Time // when the first of those failures happened
	rejected    bool      // a 401 since the last open
	retry       time.Duration
	hasRetry    bool // the server sent retry:
	resuming    bool // attempts now send Client.Resume's request
}

// newPolicy builds the policy of a stream with settings cfg; finite says
// whether its request may be re-sent once the server may have acted.
func newPolicy(cfg *settings, finite bool) *policy {
	p := &policy{
		finite:     finite,
		canResume:  cfg.resume != nil,
		hasAuth:    cfg.auth != nil,
		base:       cfg.retry,
		floor:      cfg.floor,
		maxDelay:   cfg.maxDelay,
		maxRetries: cfg.maxRetries,
		maxElapsed: cfg.maxElapsed,
		jitter:     addJitter,
	}
	if cfg.newBackOff != nil {
		p.bo = cfg.newBackOff()
		if p.bo == nil {
			p.bo = &backoff.ZeroBackOff{}
		}
	} else {
		// Configured explicitly: backoff/v4's defaults give up after 15
		// minutes and randomize by subtracting too.
		p.own = backoff.NewExponentialBackOff(
			backoff.WithMultiplier(2),
			backoff.WithRandomizationFactor(0), // jitter only adds, below
			backoff.WithMaxElapsedTime(0),      // never give up by itself
		)
		p.bo = p.own
		p.tune()
	}
	p.bo.Reset()
	return p
}

// addJitter returns d plus a random part of up to half of d, like a
// browser's jitter: it never shortens the wait.
func addJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return satAdd(d, rand.N(d/2+1))
}

// satAdd adds two non-negative durations without overflowing.
func satAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// reconnectionTime is the wait after a connection that delivered events:
// the server's retry: capped by the maximum delay, or the base, never below
// the floor.
func (p *policy) reconnectionTime() time.Duration {
	d := p.base
	if p.hasRetry {
		d = p.retry
	}
	return max(min(d, p.maxDelay), p.floor)
}

// tune points the built-in exponential policy at the current
// reconnection time.
func (p *policy) tune() {
	if p.own != nil {
		base := max(p.reconnectionTime(), time.Millisecond)
		p.own.InitialInterval = base
		p.own.MaxInterval = max(base, p.maxDelay)
	}
}

// setRetry applies the server's retry: field.
func (p *policy) setRetry(d time.Duration) {
	if p.hasRetry && p.retry == d {
		return
	}
	p.retry, p.hasRetry = d, true
	p.tune()
	if p.fails == 0 {
		p.bo.Reset()
	}
}

// reconnectsAfterLoss reports whether a connection cut now would be
// followed by another: false for a finite stream that cannot resume.
func (p *policy) reconnectsAfterLoss() bool { return !p.finite || p.resuming || p.canResume }

// opened records that an attempt opened the stream.
func (p *policy) opened() { p.rejected = false }

// decide is the policy: what to do after outcome o, at time now.
func (p *policy) decide(now time.Time, o outcome) decision {
	if o.kind.opens() {
		return p.afterConnection(now, o)
	}
	return p.afterAttempt(now, o)
}

// afterAttempt decides after an attempt that did not open the stream.
func (p *policy) afterAttempt(now time.Time, o outcome) decision {
	switch {
	case o.kind == noContent:
		return decision{act: stop}
	case isPermanent(o.err):
		return decision{act: stop, err: o.err, fails: p.fails + 1}
	case o.kind == refused && o.status == http.StatusUnauthorized:
		if !p.hasAuth {
			return decision{act: stop, fails: p.fails + 1, err: &PermanentError{Err: &AuthError{Op: "rejected",
				Err: errors.New("sse: server answered 401 and the client has no credentials to refresh; set Client.Auth")}}}
		}
		if p.rejected {
			return decision{act: stop, fails: p.fails + 1, err: &PermanentError{Err: &AuthError{Op: "rejected", Err: o.err}}}
		}
		p.rejected = true
		d := p.fail(now, o)
		d.refresh = d.act == reconnect
		return d
	case p.finite && !p.resuming && !p.safeToResend(o):
		return decision{act: stop, fails: p.fails + 1, err: &PermanentError{Err: finiteError(o)}}
	}
	return p.fail(now, o)
}

// safeToResend reports whether a finite request that failed with o
// certainly was not acted on: nothing reached the server, or the server
// said it did not process the request (408, 429, 503, or X-Should-Retry).
func (p *policy) safeToResend(o outcome) bool {
	switch o.kind {
	case unsent:
		return true
	case refused:
		if o.shouldRetry != 0 {
			return o.shouldRetry > 0
		}
		switch o.status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return true
		}
	}
	return false
}

// finiteError explains why a finite request is not sent again.
func finiteError(o outcome) error {
	return fmt.Errorf("%w; a finite request is not sent again once the server may have acted on it", o.err)
}

// afterConnection decides after an open connection ended.
func (p *policy) afterConnection(now time.Time, o outcome) decision {
	if o.kind == tooLarge {
		return decision{act: stop, err: &PermanentError{Err: o.err}}
	}
	refresh := o.kind == expired && p.hasAuth
	if p.finite && !p.resuming {
		if !p.canResume || !o.hasID {
			if o.kind == ended {
				return decision{act: stop}
			}
			return decision{act: stop, err: &lostError{err: o.err}}
		}
		p.resuming = true
	}
	var d decision
	if o.delivered {
		// A connection that delivered events is routine for SSE, even
		// when the server closes it on purpose: wait the reconnection
		// time, like a browser, with no growth.
		p.fails, p.streakStart = 0, time.Time{}
		p.bo.Reset()
		d = decision{act: reconnect, delay: p.jitter(p.reconnectionTime()), err: o.err}
	} else {
		// A connection that delivered nothing counts as a failure, so a
		// server that accepts and closes at once cannot cause a hot loop.
		d = p.fail(now, o)
	}
	d.refresh = refresh && d.act == reconnect
	d.resume = p.resuming
	return d
}

// fail counts one failure and decides the wait before the next attempt,
// or gives up.
func (p *policy) fail(now time.Time, o outcome) decision {
	p.fails++
	if p.fails == 1 {
		p.streakStart = now
	}
	next := p.bo.NextBackOff()
	if next == backoff.Stop {
		return p.giveUp(o)
	}
	if p.own != nil {
		next = p.jitter(next)
	}
	delay := max(next, p.floor)
	if p.hasRetry {
		delay = max(delay, min(p.retry, p.maxDelay))
	}
	if o.retryAfter > 0 {
		delay = max(delay, min(o.retryAfter, p.maxDelay))
	}
	if p.maxRetries > 0 && p.fails >= p.maxRetries {
		return p.giveUp(o)
	}
	if p.maxElapsed > 0 && satAdd(now.Sub(p.streakStart), delay) > p.maxElapsed {
		return p.giveUp(o)
	}
	return decision{act: reconnect, delay: delay, err: o.err, fails: p.fails, resume: p.resuming}
}

// giveUp ends the stream after the give-up policy fired.
func (p *policy) giveUp(o outcome) decision {
	err := o.err
	if err == nil {
		err = errors.New("sse: the server ended the stream without sending an event")
	}
	return decision{act: stop, fails: p.fails, err: &giveUpError{n: p.fails, err: err}}
}

// giveUpError ends a stream whose give-up policy (Client.MaxRetries,
// MaxElapsed or Backoff) fired.
type giveUpError struct {
	n   int
	err error
}

func (e *giveUpError) Error() string {
	return fmt.Sprintf("sse: gave up after %d failed attempts: %s", e.n, strings.TrimPrefix(e.err.Error(), "sse: "))
}

func (e *giveUpError) Unwrap() error { return e.err }

// lostError ends a finite stream whose connection ended before the server
// ended the stream. It wraps ErrStreamLost and the cause.
type lostError struct{ err error }

func (e *lostError) Error() string {
	if e.err == nil {
		return ErrStreamLost.Error()
	}
	return "sse: finite stream lost before the server ended it (" + strings.TrimPrefix(e.err.Error(), "sse: ") +
		"); the request is not sent again: set Client.Resume to resume it"
}

func (e *lostError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrStreamLost}
	}
	return []error{ErrStreamLost, e.err}
}
