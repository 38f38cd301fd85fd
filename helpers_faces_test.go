package sse

// This file holds the table of the two faces of the one engine, the
// channel (Do + Stream.Events) and the pull iterator (Client.Events),
// through which every lifecycle and credential test runs: forFaces, each
// face's collect (read a stream to its end) and open (a handle on an open
// stream), the pull face's test-side adapter behind open, and the helpers
// that open through a face as Connect does and read a stream to its end.

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// face is one way to consume a stream.
type face struct {
	name string
	// collect reads the stream of req until it ends, and returns what
	// arrived and why it ended (nil: normally).
	collect func(c *Client, req *http.Request) ([]Event, error)
	// open opens the stream of req and returns a handle on it, or the
	// error that ended it before it opened: c.Do for the channel face,
	// openPull for the pull face (see there for where they differ).
	open func(c *Client, req *http.Request) (streamLike, error)
}

var faces = []face{
	{"channel", func(c *Client, req *http.Request) ([]Event, error) {
		s, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var evs []Event
		for ev := range s.Events() {
			evs = append(evs, ev)
		}
		return evs, s.Err()
	}, func(c *Client, req *http.Request) (streamLike, error) {
		s, err := c.Do(req)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return s, nil
	}},
	{"pull", func(c *Client, req *http.Request) ([]Event, error) {
		var evs []Event
		for ev, err := range c.Events(req) {
			if err != nil {
				return evs, err
			}
			evs = append(evs, ev)
		}
		return evs, nil
	}, func(c *Client, req *http.Request) (streamLike, error) {
		return openPull(c, req)
	}},
}

// forFaces runs f once per face, in subtests named after the faces.
func forFaces(t *testing.T, f func(t *testing.T, fc face)) {
	for _, fc := range faces {
		t.Run(fc.name, func(t *testing.T) { f(t, fc) })
	}
}

// streamLike is what the tests use of an open stream, whichever face
// opened it: *Stream, or the pull face's adapter.
type streamLike interface {
	Events() <-chan Event
	Err() error
	Close() error
	LastEventID() string
}

// connectVia opens a GET stream at url through fc, as Connect does: the
// request is built by getRequest, which keeps a URL that may hold a
// credential out of its error. For the channel face it is Connect.
func connectVia(fc face, c *Client, ctx context.Context, url string) (streamLike, error) {
	req, err := getRequest(ctx, url)
	if err != nil {
		return nil, err
	}
	return fc.open(c, req)
}

// openAndDrain opens req through fc, reads every event and returns them
// with the error that ended the stream (nil: normally). The tests it
// serves required Connect or Do to succeed, so for the channel face an
// error from Do fails t; the pull face has no open of its own (see
// openPull), so there an error that came before any event is returned.
func openAndDrain(t *testing.T, fc face, c *Client, req *http.Request) ([]Event, error) {
	t.Helper()
	st, err := fc.open(c, req)
	if fc.name == "channel" {
		require.NoError(t, err, "Do")
	}
	if err != nil {
		return nil, err
	}
	evs := drainEvents(st)
	return evs, st.Err()
}

// getReq is the GET request Connect would send for url, for the tests
// that open through a face what they opened with Connect.
func getReq(t *testing.T, ctx context.Context, url string) *http.Request {
	t.Helper()
	req, err := getRequest(ctx, url)
	require.NoError(t, err)
	return req
}

// pullStream is the test side's adapter that gives the pull face the shape
// of a Stream: one goroutine of the test ranges Client.Events and hands
// each event over an unbuffered channel. It is not part of the SDK, and
// differs from a Stream opened by Do in these ways only:
//
//   - openPull returns once the first event arrived or the stream ended,
//     where Do returns as soon as the first response opened the stream,
//     before any event. An error that ends the stream before its first
//     event (say, every attempt refused, or a context that ends while
//     connections deliver nothing) is therefore openPull's error, where
//     Do would have returned a Stream whose Err holds it. A stream that
//     ends normally before any event gives a handle whose channel is
//     closed and whose Err is nil, as with Do.
//   - The channel has no buffer: the iterator is at most the one event
//     the goroutine holds ahead of the consumer, where a Stream's reader
//     runs up to its buffer of 16 ahead.
//   - LastEventID is the ID of the last event the iterator yielded
//     (Event.ID): the pull form reports no other, so an ID set by a block
//     that dispatched no event is not seen, unlike Stream.LastEventID.
//   - It has no Header and no Reconnect, and Close must not be called
//     from OnComment or OnAttempt (they run on the adapter's goroutine,
//     which Close waits for).
//
// Close cancels the context derived for the request, which ends the
// iterator, and waits for the goroutine, so none is left behind; after
// Close, as after Stream.Close, no event is received and Err is nil unless
// the stream had already ended on its own. Cancelling the request's own
// context ends the stream with the context's error, as with a Stream. A
// panic of the iterator before the first event is raised again in the
// goroutine that called openPull, as it would be in Do's caller.
type pullStream struct {
	events chan Event
	done   chan struct{}
	cancel context.CancelFunc

	mu     sync.Mutex
	err    error
	closed bool
	lastID string
}

// openPull opens req through Client.Events behind a pullStream.
func openPull(c *Client, req *http.Request) (*pullStream, error) {
	ctx, cancel := context.WithCancel(req.Context())
	p := &pullStream{events: make(chan Event), done: make(chan struct{}), cancel: cancel}
	first := make(chan struct{})
	var early any // a panic before the first event
	started := false
	go func() {
		var endErr error
		defer func() {
			if !started {
				if v := recover(); v != nil {
					early = v
				}
			}
			p.mu.Lock()
			if !p.closed {
				p.err = endErr
			}
			p.mu.Unlock()
			close(p.events)
			close(p.done)
		}()
		for ev, err := range c.Events(req.WithContext(ctx)) {
			if err != nil {
				endErr = err
				break
			}
			p.mu.Lock()
			p.lastID = ev.ID
			p.mu.Unlock()
			if !started {
				started = true
				close(first)
			}
			select {
			case p.events <- ev:
			case <-ctx.Done():
				endErr = ctx.Err()
			}
			if endErr != nil {
				break // ends the iterator, which closes the connection
			}
		}
	}()
	select {
	case <-first:
		return p, nil
	case <-p.done:
	}
	if early != nil {
		cancel()
		panic(early)
	}
	if err := p.Err(); err != nil {
		cancel()
		return nil, err
	}
	return p, nil // ended normally before any event
}

// Events returns the channel of the stream's events, closed when the
// stream ends.
func (p *pullStream) Events() <-chan Event { return p.events }

// Err returns why the stream ended: nil while it runs, after Close and
// after a normal end.
func (p *pullStream) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// LastEventID returns the ID of the last event the iterator yielded.
func (p *pullStream) LastEventID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastID
}

// Close ends the stream and waits for the adapter's goroutine. It is
// idempotent and returns nil.
func (p *pullStream) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	<-p.done
	for range p.events { // already closed: nothing is received after Close
	}
	return nil
}
