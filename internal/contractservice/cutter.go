package main

// This file holds the cutter, the stream's transport that lets the restart
// command cut the current connection.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// errRestart is the cause with which the restart command cuts a
// connection.
var errRestart = errors.New("contractservice: restart command")

// cutter is the stream's transport. It gives each connection its own
// context, so that the restart command can cut the current one as a
// dropped connection would be cut; the client then reconnects as it does
// after any loss, with Last-Event-ID.
type cutter struct {
	base http.RoundTripper

	mu      sync.Mutex
	current *cutBody // the open connection's body, if any

	restarting atomic.Bool // a connection was cut and its end not yet seen
}

func (c *cutter) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	resp, err := c.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel(nil)
		return nil, err
	}
	b := &cutBody{ReadCloser: resp.Body, cancel: cancel, c: c}
	c.mu.Lock()
	c.current = b
	c.mu.Unlock()
	resp.Body = b
	return resp, nil
}

// restart cuts the current connection, if one is open.
func (c *cutter) restart() {
	c.mu.Lock()
	b := c.current
	c.current = nil
	c.mu.Unlock()
	if b != nil {
		c.restarting.Store(true)
		b.cancel(errRestart)
	}
}

// takeRestart reports whether the connection that just ended was cut by
// restart.
func (c *cutter) takeRestart() bool { return c.restarting.Swap(false) }

// cutBody releases its connection's context when the client closes it.
type cutBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
	c      *cutter
}

func (b *cutBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	b.c.mu.Lock()
	if b.c.current == b {
		b.c.current = nil
	}
	b.c.mu.Unlock()
	return err
}
