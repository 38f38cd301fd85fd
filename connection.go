package sse

// This file holds one open connection: the parser over its body, the idle
// and maximum-age timers that cut it, and what its end comes to.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

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
	if r.cfg.maxAge > 0 && r.pol.reconnectsAfterLoss() {
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
		o.kind, o.err = lost, r.lostError(errIdle)
	case err == io.EOF:
		o.kind = ended
	default:
		o.kind, o.err = lost, r.lostError(err)
	}
	o.hasID = r.lastID != ""
	return o
}

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
