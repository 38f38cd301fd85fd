package sse

// This file holds the fake network of the synctest tests: a RoundTripper
// made of a function, a scripted server that records when each attempt
// came, canned responses, and a reader that drains a stream of either face.

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// rtFunc is a RoundTripper made of a function: the fake network of the
// synctest tests, where time is virtual and exact.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// scriptedTransport serves scripted responses and records when each
// attempt came.
type scriptedTransport struct {
	mu       sync.Mutex
	times    []time.Time
	reqs     []*http.Request
	response func(n int, req *http.Request) *http.Response
}

func (s *scriptedTransport) client() *http.Client {
	return &http.Client{Transport: rtFunc(func(req *http.Request) (*http.Response, error) {
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		s.reqs = append(s.reqs, req)
		n := len(s.times)
		s.mu.Unlock()
		resp := s.response(n, req)
		resp.Request = req
		return resp, nil
	})}
}

func (s *scriptedTransport) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(s.times); i++ {
		out = append(out, s.times[i].Sub(s.times[i-1]))
	}
	return out
}

func (s *scriptedTransport) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.times)
}

// streamResponse is a 200 event stream with body.
func streamResponse(body string) *http.Response {
	return &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}},
		Body:       io.NopCloser(strings.NewReader(body)),
	}
}

// statusResponse is a response with code and the header pairs given.
func statusResponse(code int, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader("nope"))}
}

// drainEvents reads events until the channel closes.
func drainEvents(s streamLike) []Event {
	var out []Event
	for ev := range s.Events() {
		out = append(out, ev)
	}
	return out
}

// assertGapsWithin checks that every wait between two attempts is within
// [lo, hi].
func assertGapsWithin(t *testing.T, gaps []time.Duration, lo, hi time.Duration) {
	t.Helper()
	for i, g := range gaps {
		assert.GreaterOrEqual(t, g, lo, "gap %d", i)
		assert.LessOrEqual(t, g, hi, "gap %d", i)
	}
}
