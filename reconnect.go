package sse

// This file holds the engine of a stream: the short loop that makes
// attempts (attempt.go), reads connections (connection.go), asks the
// policy (policy.go) what each outcome means and carries it out. The
// engine runs in the goroutine of whoever pulls events: the caller's with
// Client.Events, the Stream's own with Connect and Do.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Causes with which the engine cancels one attempt or connection while the
// stream goes on.
var (
	errIdle          = errors.New("sse: no bytes received within the idle timeout")
	errForced        = errors.New("sse: reconnect requested")
	errMaxAge        = errors.New("sse: connection reached its maximum age")
	errHeaderTimeout = errors.New("sse: no response headers within HTTPClient.Timeout")
	errAuthExpired   = errors.New("sse: server signalled expired credentials")
)

// runner is the engine of one stream. It is used by one goroutine at a
// time; only forceReconnect may be called from others.
type runner struct {
	cfg           *settings
	tmpl          *template // the request each attempt sends: the caller's, or Resume's once resuming
	hc            *http.Client
	headerTimeout time.Duration
	redacted      string // tmpl's URL, redacted, for logs and reports
	authExpired   string // the event type that signals expired credentials; "" without an AuthSource

	pol      *policy
	lastID   string        // the last event ID, sent as Last-Event-ID
	conn     *conn         // the open connection, if any
	wait     time.Duration // before the next attempt
	resume   bool          // the next attempt sends Client.Resume's request
	opened   bool          // the stream opened at least once
	cause    error         // the last attempt's failure, for the error of a context that ends first
	finished bool
	endErr   error // why the stream ended, once finished (nil: normally)

	// Hooks of the face that runs the engine.
	onOpen func(*http.Response) // after each open
	onID   func(string)         // when the last event ID changes

	mu            sync.Mutex // guards attemptCancel, which forceReconnect calls
	attemptCancel context.CancelCauseFunc
}

// newRunner prepares the engine of a stream that sends req.
func (c *Client) newRunner(req *http.Request) (*runner, error) {
	if req == nil || req.URL == nil {
		return nil, &PermanentError{Err: errors.New("sse: Do needs a request with a URL")}
	}
	cfg, err := c.settings()
	if err != nil {
		return nil, err
	}
	tmpl, err := newTemplate(req, cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, tmpl: tmpl, lastID: cfg.lastEventID}
	r.hc = cfg.httpClient(r)
	r.redacted = redactURL(tmpl.url)
	if cfg.auth != nil {
		r.authExpired = cfg.authExpired
	}
	r.pol = newPolicy(cfg, isFinite(cfg.lifecycle, tmpl.method))
	return r, nil
}

// pull runs the engine: it connects, reads and reconnects as the policy
// decides, and hands each event to yield until yield returns false or the
// stream ends; then, unless the stream ended normally, it yields the error
// that ended it. Both faces run it: Client.Events with the caller's yield,
// a Stream with one that sends on its channel.
//
// The hot path is written out here, handing the event to yield straight
// from the Parser, rather than in a next method returning it: one copy of
// the Event fewer per event (end to end on the small workload, the pull
// form made 1.11x the events/s and the channel form 1.04x: medians of the
// per-round ratios of an interleaved A/B of 6 rounds; bench/README). The
// work around a connection's end and an attempt is in step, so that
// pull's frame stays small.
func (r *runner) pull(ctx context.Context, yield func(Event, error) bool) {
	for {
		if c := r.conn; c != nil {
			ev, err := c.p.Next()
			if err == nil && ev.Type != r.authExpired {
				c.delivered = true
				if ev.ID != r.lastID {
					r.setID(ev.ID)
				}
				if !yield(ev, nil) {
					return
				}
				continue
			}
			if err == nil {
				err = errAuthExpired
			}
			r.step(ctx, err)
		} else if !r.finished {
			r.step(ctx, nil)
		}
		if r.finished {
			if r.endErr != nil {
				yield(Event{}, r.endErr)
			}
			return
		}
	}
}

// step ends the open connection, which failed with err, or makes an
// attempt when none is open, and decides what follows.
func (r *runner) step(ctx context.Context, err error) {
	if r.conn != nil {
		r.decide(ctx, r.endConnection(err))
		return
	}
	if o, ok := r.attempt(ctx); !ok && !r.finished {
		r.decide(ctx, o)
	}
}

// attempt waits as decided, then makes one connection attempt. It returns
// true when the stream opened, and the outcome otherwise.
func (r *runner) attempt(ctx context.Context) (outcome, bool) {
	if !r.sleep(ctx, r.wait) {
		return outcome{}, false
	}
	if r.resume {
		if done, o := r.prepareResume(ctx); done || o.kind != 0 {
			return o, false
		}
	}
	resp, o := r.open(ctx)
	if resp == nil {
		return o, false
	}
	r.opened = true
	r.pol.opened()
	r.startConnection(resp)
	r.report(Attempt{N: r.pol.fails + 1, URL: r.redacted, StatusCode: resp.StatusCode, Header: resp.Header})
	r.cfg.log.Info("sse: connected", "url", r.redacted)
	if r.onOpen != nil {
		r.onOpen(resp)
	}
	return outcome{}, true
}

// decide asks the policy what outcome o means and carries it out: it
// reports and logs the decision, refreshes credentials, and sets the wait
// before the next attempt, or finishes the stream.
func (r *runner) decide(ctx context.Context, o outcome) {
	if ctx.Err() != nil {
		r.finishCtx(ctx)
		return
	}
	if !o.kind.opens() {
		r.cause = o.err
	}
	d := r.pol.decide(time.Now(), o)
	if d.act == reconnect && d.refresh {
		if o.kind == expired {
			r.cfg.log.Info("sse: credentials expired; refreshing", "url", r.redacted)
		} else {
			r.cfg.log.Info("sse: 401; refreshing credentials", "url", r.redacted)
		}
		if err := r.refresh(ctx, o.resp); err != nil {
			if ctx.Err() != nil {
				r.finishCtx(ctx)
				return
			}
			err = &causedError{err: err, cause: o.err}
			if isPermanent(err) {
				d = decision{act: stop, err: &PermanentError{Err: err}, fails: d.fails}
			} else {
				d.err = err
			}
		}
	}
	a := Attempt{N: d.fails, URL: r.redacted, Err: d.err, Ended: o.kind.opens()}
	if o.resp != nil && !o.kind.opens() {
		a.StatusCode, a.Header = o.resp.StatusCode, o.resp.Header
	}
	if d.act == stop {
		a.Final = true
		r.report(a)
		r.logEnd(o, d)
		r.finish(d.err)
		return
	}
	a.Delay = d.delay
	r.report(a)
	if o.kind.opens() && o.delivered {
		reason := "server ended the stream"
		if o.err != nil {
			reason = o.err.Error()
		}
		r.cfg.log.Info("sse: stream ended; reconnecting", "url", r.redacted, "reason", reason, "delay", d.delay)
	} else {
		r.cfg.log.Warn("sse: connection failed; retrying", "url", r.redacted, "attempt", d.fails, "err", errString(d.err), "delay", d.delay)
	}
	r.wait, r.resume = d.delay, d.resume
}

// logEnd logs why the stream ends.
func (r *runner) logEnd(o outcome, d decision) {
	switch {
	case d.err != nil:
		r.cfg.log.Warn("sse: stream failed for good", "url", r.redacted, "err", d.err.Error())
	case o.kind == noContent:
		r.cfg.log.Info("sse: server ended the stream with 204", "url", r.redacted)
	default:
		r.cfg.log.Info("sse: server ended the stream", "url", r.redacted)
	}
}

func errString(err error) string {
	if err == nil {
		return "server ended the stream without sending an event"
	}
	return err.Error()
}

// finish ends the stream with err (nil: normally).
func (r *runner) finish(err error) {
	r.finished, r.endErr = true, err
	r.close()
}

// finishCtx ends the stream because its context ended. Before the first
// open, the error wraps the last attempt's cause as well.
func (r *runner) finishCtx(ctx context.Context) {
	err := ctx.Err()
	if !r.opened && r.cause != nil && !errors.Is(r.cause, err) {
		err = &contextError{ctx: err, last: r.cause}
	}
	r.finish(err)
}

// causedError is an error that happened in answer to an earlier one (a
// failed refresh after a 401): errors.Is and errors.As find both.
type causedError struct{ err, cause error }

func (e *causedError) Error() string {
	if e.cause == nil {
		return e.err.Error()
	}
	return e.err.Error() + " (after: " + strings.TrimPrefix(e.cause.Error(), "sse: ") + ")"
}

func (e *causedError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.err}
	}
	return []error{e.err, e.cause}
}

// contextError is the error of a stream whose context ended before it
// opened: errors.Is finds both the context's error and the last attempt's
// cause.
type contextError struct{ ctx, last error }

func (e *contextError) Error() string {
	return "sse: " + strings.TrimPrefix(e.ctx.Error(), "sse: ") + " before the stream opened; last attempt: " + strings.TrimPrefix(e.last.Error(), "sse: ")
}

func (e *contextError) Unwrap() []error { return []error{e.ctx, e.last} }

// report passes a to the caller's OnAttempt hook.
func (r *runner) report(a Attempt) {
	if r.cfg.onAttempt != nil {
		r.cfg.onAttempt(a)
	}
}

// setID records a new last event ID.
func (r *runner) setID(id string) {
	r.lastID = id
	if r.onID != nil {
		r.onID(id)
	}
}

// sleep waits d; false when ctx ended first.
func (r *runner) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
