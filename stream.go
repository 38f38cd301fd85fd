package sse

// This file holds the channel face of a stream: the Stream type, whose
// one goroutine runs the engine (reconnect.go) and hands events over a
// channel, and its lifecycle (start, deliver, finish, Close).

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Stream is one logical event stream that survives reconnections, read
// through a channel. Its methods are safe for concurrent use. A single
// goroutine per Stream reads the connection and waits when the caller does
// not receive, so a slow consumer slows the server down instead of growing
// memory. Client.Events gives the same stream without that goroutine.
type Stream struct {
	events chan Event
	done   chan struct{}
	cancel context.CancelCauseFunc
	r      *runner // for Reconnect; its forceReconnect is safe from any goroutine

	idMu   sync.Mutex // guards lastID; a plain string costs no allocation to store
	lastID string

	mu     sync.Mutex
	err    error
	closed bool
	header http.Header

	// inCallback is set while the goroutine runs OnComment or OnAttempt,
	// so that Close called from there does not wait for itself.
	inCallback atomic.Bool
	// stopped is set, by the goroutine only, when a callback returned
	// after the stream was closed: no event may be sent after that.
	stopped bool
}

// eventBuffer is the capacity of a Stream's channel: enough to keep the
// reader busy while the consumer takes a few events, small enough that a
// consumer that stops receiving stops the reader.
const eventBuffer = 16

// errClosed is the cause with which Close cancels a Stream.
var errClosed = errors.New("sse: stream closed")

// startStream makes r's attempts until the stream opens or ends, then runs
// r on a Stream's goroutine. The attempts before the first open run on the
// caller's goroutine, which waits for that open anyway: the Stream's
// goroutine then starts with a small stack and only reads, where making
// the attempts itself (net/http's client frames are ≈2.5 KiB deep) grew
// it to 8 KiB, which GC cannot shrink while it waits in Read (bench/README).
func startStream(parent context.Context, r *runner) (*Stream, error) {
	ctx, cancel := context.WithCancelCause(parent)
	s := &Stream{
		events: make(chan Event, eventBuffer),
		done:   make(chan struct{}),
		cancel: cancel,
		r:      r,
		lastID: r.lastID,
	}
	r.onOpen = func(resp *http.Response) {
		s.mu.Lock()
		s.header = resp.Header
		s.mu.Unlock()
	}
	r.onID = func(id string) {
		s.idMu.Lock()
		s.lastID = id
		s.idMu.Unlock()
	}
	if fn := r.cfg.onComment; fn != nil {
		r.cfg.onComment = func(c string) {
			s.waitReceived(ctx)
			s.callback(ctx, func() { fn(c) })
		}
	}
	if fn := r.cfg.onAttempt; fn != nil {
		r.cfg.onAttempt = func(a Attempt) { s.callback(ctx, func() { fn(a) }) }
	}
	for r.conn == nil && !r.finished {
		r.step(ctx, nil)
	}
	if r.endErr != nil {
		cancel(nil)
		return nil, r.endErr
	}
	go s.run(ctx, r)
	return s, nil
}

// run is the Stream's goroutine: it pulls events from the engine and hands
// them over until the stream ends.
func (s *Stream) run(ctx context.Context, r *runner) {
	var endErr error
	defer func() {
		r.close()
		s.finish(ctx, endErr)
		close(s.done)
	}()
	r.pull(ctx, func(ev Event, err error) bool {
		if err != nil {
			endErr = err
			return false
		}
		return !s.stopped && s.send(ctx, ev)
	})
}

// send hands ev over; false when ctx ended first.
func (s *Stream) send(ctx context.Context, ev Event) bool {
	select {
	case s.events <- ev:
		return true
	default:
		select {
		case s.events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// callback runs fn, one of the caller's hooks, on the Stream's goroutine.
// If the Stream was closed meanwhile, no event is sent after it.
func (s *Stream) callback(ctx context.Context, fn func()) {
	s.inCallback.Store(true)
	defer func() {
		s.inCallback.Store(false)
		if ctx.Err() != nil {
			s.stopped = true
		}
	}()
	fn()
}

// waitReceived waits until the caller has received every event sent
// before, so that a comment reaches OnComment in stream order. Comments
// are rare (keep-alives), so a poll costs nothing measurable: it starts
// at 20 µs and backs off to 10 ms, so a consumer that stopped receiving
// costs at most 100 wake-ups a second.
func (s *Stream) waitReceived(ctx context.Context) {
	for d := 20 * time.Microsecond; len(s.events) > 0 && ctx.Err() == nil; d = min(2*d, 10*time.Millisecond) {
		time.Sleep(d)
	}
}

// finish records why the stream ended and closes the channel.
func (s *Stream) finish(ctx context.Context, endErr error) {
	s.mu.Lock()
	closed := s.closed
	if !closed {
		if endErr == nil && ctx.Err() != nil {
			endErr = ctx.Err()
		}
		s.err = endErr
	}
	s.mu.Unlock()
	if closed {
		s.drain()
	}
	close(s.events)
}

// drain discards the events still buffered, so that none is received
// after Close returns.
func (s *Stream) drain() {
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// Events returns the channel on which events arrive, in order, each once.
// It is closed when the stream ends for good; Err then says why.
func (s *Stream) Events() <-chan Event { return s.events }

// Err returns why the stream ended: nil while it runs, after Close, after
// the server answered 204 and after the server ended a finite stream;
// otherwise the error that ended it (the caller's context error, or an
// error that is permanent or made the Stream give up).
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Header returns the header of the response that opened the current
// connection (or the last one, once the stream ended): a session ID, a
// request ID, rate limits. The caller must not modify it.
func (s *Stream) Header() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header
}

// LastEventID returns the last event ID the reader has passed, which the
// next attempt sends as Last-Event-ID. It includes IDs set by blocks that
// dispatched no event.
//
// The reader runs ahead of the caller by the events waiting in the channel,
// so this is not the caller's position: to resume after a restart, persist
// the ID of the last event you handled (Event.ID) and pass it as
// Client.LastEventID.
func (s *Stream) LastEventID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return s.lastID
}

// Reconnect closes the current connection, if one is open, or cuts the
// attempt in progress; the stream then reconnects with the usual pacing
// (see Client.RetryDelay). A Stream waiting between attempts keeps
// waiting. It returns without waiting for the new connection.
func (s *Stream) Reconnect() { s.r.forceReconnect() }

// Close ends the stream: the connection is closed, the goroutine exits
// and the Events channel is closed before Close returns, and no event is
// received after that. Called from the Stream's own OnComment or OnAttempt
// hook, Close cannot wait for the goroutine that runs it: it returns at
// once, no event is received after it returns, and the goroutine exits
// when the hook returns. Close is idempotent, safe to call concurrently
// from any goroutine and always returns nil.
func (s *Stream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel(errClosed)
	if !s.inCallback.Load() {
		<-s.done
	}
	s.drain()
	return nil
}
