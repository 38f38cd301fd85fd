package main

// This file holds one stream the harness asked for: its sse.Client built
// from the harness's parameters, the goroutine that reads it, and the
// callbacks that report what it saw.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ssekit/sse"
)

// stream is one client stream the harness asked for.
type stream struct {
	client   *sse.Client
	req      *http.Request
	cut      *cutter
	callback string
	cbClient *http.Client
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}

	// Used only by run's goroutine.
	seq           int  // the last callback's number
	reportedFinal bool // OnAttempt reported the error that ends the stream
}

// newStream maps the harness's parameters onto an sse.Client and its
// request.
func (s *service) newStream(p streamParams) (*stream, error) {
	streamURL, err := loopbackURL("streamUrl", p.StreamURL)
	if err != nil {
		return nil, err
	}
	if _, err := loopbackURL("callbackUrl", p.CallbackURL); err != nil {
		return nil, err
	}
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithCancel(context.Background())
	var body io.Reader
	if p.Body != "" {
		body = strings.NewReader(p.Body) // sets GetBody: the body is sent again on each reconnection
	}
	req, err := http.NewRequestWithContext(ctx, method, streamURL.String(), body)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if p.Body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}

	st := &stream{
		req:      req,
		cut:      &cutter{base: s.sseTrans},
		callback: strings.TrimSuffix(p.CallbackURL, "/"),
		cbClient: s.cbClient,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	c := &sse.Client{
		HTTPClient:    &http.Client{Transport: st.cut},
		LastEventID:   p.LastEventID,
		Lifecycle:     sse.Resumable, // EventSource semantics, POST and REPORT too
		MinRetryDelay: time.Millisecond,
		OnComment:     st.onComment,
		OnAttempt:     st.onAttempt,
	}
	if d := p.InitialDelayMS; d != nil {
		if *d < 0 {
			cancel()
			return nil, errors.New("initialDelayMs is negative")
		}
		c.RetryDelay = max(time.Duration(*d)*time.Millisecond, time.Millisecond)
	}
	if d := p.ReadTimeoutMS; d != nil {
		if *d < 0 {
			cancel()
			return nil, errors.New("readTimeoutMs is negative")
		}
		if *d > 0 {
			c.IdleTimeout = time.Duration(*d) * time.Millisecond
		}
	}
	st.client = c
	return st, nil
}

// loopbackURL parses an http URL whose host must be a loopback address.
func loopbackURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s must be an http URL, got %q", name, raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s must point to a loopback host, got %q", name, host)
	}
	return u, nil
}

// run reads the stream and posts what it sees, in stream order, until the
// stream ends or is closed.
func (st *stream) run() {
	defer close(st.done)
	for ev, err := range st.client.Events(st.req) {
		if err != nil {
			// An error the engine ended the stream with was already
			// reported by OnAttempt; one from before any attempt (a bad
			// setting) was not. A closed stream reports nothing.
			if st.ctx.Err() == nil && !st.reportedFinal {
				st.post(message{Kind: "error", Error: err.Error()})
			}
			return
		}
		st.post(message{Kind: "event", Event: &eventMessage{Type: ev.Type, Data: ev.Data, ID: ev.ID}})
	}
}

func (st *stream) onComment(c string) {
	st.post(message{Kind: "comment", Comment: c})
}

// onAttempt reports each failed attempt and each connection that ended
// with an error, except the connection the restart command cut.
func (st *stream) onAttempt(a sse.Attempt) {
	if a.Ended && st.cut.takeRestart() {
		return
	}
	if a.Err == nil {
		return
	}
	if a.Final {
		st.reportedFinal = true
	}
	st.post(message{Kind: "error", Error: a.Err.Error()})
}

// close stops the stream and waits for its goroutine.
func (st *stream) close() {
	st.cancel()
	<-st.done
}

type message struct {
	Kind    string        `json:"kind"`
	Event   *eventMessage `json:"event,omitempty"`
	Comment string        `json:"comment,omitempty"`
	Error   string        `json:"error,omitempty"`
}

type eventMessage struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// post sends m to the next numbered callback URL. The harness sorts the
// callbacks by number, but posting them one at a time from the stream's
// goroutine also keeps them in order on the wire.
func (st *stream) post(m message) {
	if st.ctx.Err() != nil {
		return
	}
	st.seq++
	body, err := json.Marshal(m)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(st.ctx, http.MethodPost, st.callback+"/"+strconv.Itoa(st.seq), bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := st.cbClient.Do(req)
	if err != nil {
		return // the harness closed the endpoint: the test is over
	}
	resp.Body.Close()
}
