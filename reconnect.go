package sse

// This file holds the engine of a stream: the I/O of one attempt (open,
// read) that turns into an outcome, and the short loop that asks the
// policy (policy.go) what to do next and carries it out. The engine runs
// in the goroutine of whoever pulls events: the caller's with
// Client.Events, the Stream's own with Connect and Do.

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
	"sync"
	"sync/atomic"
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
	errNoContent     = errors.New("sse: server answered 204 No Content")
)

// maxErrorBody is how much of a refused response's body StatusError.Body
// keeps, and maxErrorBodyWait how long the client waits for it.
const (
	maxErrorBody     = 4 << 10
	maxErrorBodyWait = 5 * time.Second
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

// conn is one open connection.
type conn struct {
	resp      *http.Response
	ctx       context.Context // the attempt's, whose cause says why the engine cut it
	cancel    context.CancelCauseFunc
	p         *Parser
	idle      *idleReader
	age       *time.Timer
	delivered bool
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

// next returns the stream's next event, connecting, reading and
// reconnecting as the policy decides. It returns io.EOF when the stream
// ended normally, and the error that ended it otherwise.
func (r *runner) next(ctx context.Context) (Event, error) {
	for {
		if r.conn != nil {
			ev, err := r.conn.p.Next()
			if err == nil {
				if ev.Type != r.authExpired {
					r.conn.delivered = true
					if id := r.conn.p.LastEventID(); id != r.lastID {
						r.setID(id)
					}
					return ev, nil
				}
				err = errAuthExpired
			}
			r.decide(ctx, r.endConnection(err))
		} else if !r.finished {
			if o, ok := r.attempt(ctx); !ok && !r.finished {
				r.decide(ctx, o)
			}
		}
		if r.finished {
			if r.endErr == nil {
				return Event{}, io.EOF
			}
			return Event{}, r.endErr
		}
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

// close releases the open connection, if any.
func (r *runner) close() {
	if c := r.conn; c != nil {
		r.conn = nil
		c.stop()
	}
}

// stop releases c's timers, context and body.
func (c *conn) stop() {
	if c.idle != nil {
		c.idle.stopped.Store(true) // a check already running must not re-arm
		c.idle.t.Stop()
	}
	if c.age != nil {
		c.age.Stop()
	}
	c.cancel(nil)
	c.resp.Body.Close()
}

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
	// A refused response's body is read only for maxErrorBodyWait: a
	// server that stalls it cannot hold the stream.
	bodyTimer := time.AfterFunc(maxErrorBodyWait, func() { cancel(errHeaderTimeout) })
	err = r.classify(resp)
	bodyTimer.Stop()
	if err != nil {
		o := outcome{kind: refused, err: err, status: resp.StatusCode, resp: resp}
		if resp.StatusCode == http.StatusNoContent {
			o.kind, o.err = noContent, nil
		}
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

// classify decides what a response means: nil when it opens the stream.
// A refused response's body is read, up to maxErrorBody, into the
// StatusError.
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
	case code == http.StatusNoContent:
		return errNoContent
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

// startConnection sets up the reading of an opened response: the idle and
// maximum-age timers and the parser.
func (r *runner) startConnection(resp *http.Response) {
	c := &conn{resp: resp, ctx: resp.Request.Context(), cancel: r.takeAttemptCancel()}
	var body io.Reader = resp.Body
	if r.cfg.idle > 0 {
		c.idle = &idleReader{r: resp.Body, d: r.cfg.idle, cancel: c.cancel, base: time.Now()}
		c.idle.t = time.AfterFunc(r.cfg.idle, c.idle.check)
		body = c.idle
	}
	if r.cfg.maxAge > 0 && (!r.pol.finite || r.pol.resuming || r.pol.canResume) {
		cancel := c.cancel
		c.age = time.AfterFunc(r.cfg.maxAge, func() { cancel(errMaxAge) })
	}
	c.p = NewParser(body)
	c.p.SetLimits(r.cfg.maxLine, r.cfg.maxEvent)
	c.p.setLastEventID(r.lastID)
	if r.cfg.onComment != nil {
		c.p.OnComment(r.cfg.onComment)
	}
	r.conn = c
}

// endConnection closes the open connection, which ended with err, and
// says what it came to.
func (r *runner) endConnection(err error) outcome {
	c := r.conn
	cause := context.Cause(c.ctx)
	r.close()
	r.setAttemptCancel(nil)
	if d, ok := c.p.Retry(); ok {
		r.pol.setRetry(d)
	}
	if id := c.p.LastEventID(); id != r.lastID {
		r.setID(id) // set by a block that dispatched no event
	}
	o := outcome{delivered: c.delivered, resp: c.resp}
	switch {
	case err == errAuthExpired:
		o.kind, o.err = expired, errAuthExpired
	case errors.Is(err, ErrEventTooLarge):
		o.kind, o.err = tooLarge, err
	case cause == errForced:
		o.kind, o.err = forced, errForced
	case cause == errMaxAge:
		o.kind, o.err = aged, errMaxAge
	case cause == errIdle:
		o.kind, o.err = lost, &connError{method: r.tmpl.method, url: r.redacted, err: errIdle}
	case err == io.EOF:
		o.kind = ended
	default:
		o.kind, o.err = lost, r.lostError(err)
	}
	o.hasID = r.lastID != ""
	return o
}

// idleReader cuts a connection on which no byte arrived for d while the
// engine waited in Read. Time the engine spends elsewhere (a caller slow to
// take an event) does not count, and a Read costs two atomic stores and a
// clock read instead of a timer reset.
type idleReader struct {
	r       io.Reader
	d       time.Duration
	t       *time.Timer
	cancel  context.CancelCauseFunc
	base    time.Time
	since   atomic.Int64 // when the current Read began, in ns after base; 0 outside Read
	stopped atomic.Bool  // the connection is closed: the timer stays off
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.since.Store(int64(time.Since(ir.base)) | 1)
	n, err := ir.r.Read(p)
	ir.since.Store(0)
	return n, err
}

// check runs when the timer fires: it cuts the connection if a Read has
// been waiting for d, and re-arms itself otherwise.
func (ir *idleReader) check() {
	if ir.stopped.Load() {
		return
	}
	s := ir.since.Load()
	if s == 0 {
		ir.t.Reset(ir.d)
		return
	}
	waited := time.Since(ir.base) - time.Duration(s)
	if waited >= ir.d {
		ir.cancel(errIdle)
		return
	}
	ir.t.Reset(ir.d - waited)
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
