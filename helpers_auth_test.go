package sse

// This file holds the credential helpers shared by the auth, ticket,
// credential-policy and security tests: canaries and the check that they
// leak nowhere, fake auth sources and token sources, token endpoints, the
// reference auth server with a settable clock, a Client that records its
// attempts, and a log buffer that collects every record.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/sse/internal/authserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// authFunc is an AuthSource whose Authorize returns f's error and whose
// Refresh does nothing.
type authFunc func() error

func (f authFunc) Authorize(context.Context, *http.Request) error { return f() }

func (f authFunc) Refresh(context.Context, *http.Response) error { return nil }

// newCanary returns a fresh random secret to look for where it must not be.
func newCanary() string {
	return "CANARY" + rand.Text()
}

// assertNoSecret fails t when secret appears in err's text in any verb, in
// any error of its chain, or in the URL of a *url.Error in the chain; it
// also fails when the text is 1 KiB or more.
func assertNoSecret(t *testing.T, err error, secret string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		s := fmt.Sprintf(verb, err)
		assert.NotContains(t, s, secret, "secret in error (%s): %s", verb, s)
		assert.NotContains(t, s, url.QueryEscape(secret), "secret in error (%s): %s", verb, s)
	}
	n := len(err.Error())
	assert.Less(t, n, 1024, "error string is %d bytes: %.200s…", n, err.Error())
	var walk func(e error, depth int)
	walk = func(e error, depth int) {
		if e == nil || depth > 32 {
			return
		}
		s := e.Error()
		assert.NotContains(t, s, secret, "secret in chained %T: %s", e, s)
		if ue, ok := e.(*url.Error); ok {
			assert.NotContains(t, ue.URL, secret, "secret in url.Error.URL: %s", ue.URL)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap(), depth+1)
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c, depth+1)
			}
		}
	}
	walk(err, 0)
	var ue *url.Error
	if errors.As(err, &ue) {
		assert.NotContains(t, ue.URL, secret, "secret in url.Error.URL: %s", ue.URL)
	}
}

// tokenFunc is an oauth2.TokenSource made of a function.
type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// rejectedResponse returns a 401 response to a request that carried header.
func rejectedResponse(header, value string) *http.Response {
	req := httptest.NewRequest(http.MethodGet, "https://example.test/events", nil)
	if header != "" {
		req.Header.Set(header, value)
	}
	return &http.Response{StatusCode: http.StatusUnauthorized, Request: req, Header: http.Header{}}
}

// authorizeRequest runs src.Authorize on a fresh request and returns it.
func authorizeRequest(t *testing.T, src AuthSource) (*http.Request, error) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "https://example.test/events?x=1", nil)
	return req, src.Authorize(context.Background(), req)
}

// freshTokenSource returns a TokenSource that asks cfg's endpoint on every
// call, the fix Bearer's documentation recommends.
func freshTokenSource(cfg *clientcredentials.Config) oauth2.TokenSource {
	return tokenFunc(func() (*oauth2.Token, error) { return cfg.Token(context.Background()) })
}

// fixedJar is a CookieJar that returns fixed cookies, unchecked.
type fixedJar struct {
	u *url.URL
	c []*http.Cookie
}

func (j fixedJar) SetCookies(*url.URL, []*http.Cookie) {}

func (j fixedJar) Cookies(*url.URL) []*http.Cookie { return j.c }

// fakeClock is a settable clock for the reference server.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newAuthServer starts the reference server with fast events.
func newAuthServer(t *testing.T, o authserver.Options) (*authserver.Server, *httptest.Server) {
	t.Helper()
	if o.Interval == 0 {
		o.Interval = 2 * time.Millisecond
	}
	s := authserver.New(o)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// fastAuthClient returns a Client with short delays for tests, recording
// attempts.
func fastAuthClient(auth AuthSource, attempts *attemptLog) *Client {
	c := &Client{Auth: auth, RetryDelay: 5 * time.Millisecond, MinRetryDelay: time.Millisecond, MaxRetryDelay: 50 * time.Millisecond}
	if attempts != nil {
		c.OnAttempt = attempts.add
	}
	return c
}

// attemptLog records Client.OnAttempt calls.
type attemptLog struct {
	mu  sync.Mutex
	all []Attempt
}

func (a *attemptLog) add(at Attempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.all = append(a.all, at)
}

func (a *attemptLog) statuses() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for _, at := range a.all {
		var st *StatusError
		switch {
		case at.Ended:
			continue // the end of a connection, not an attempt
		case at.Err == nil:
			out = append(out, 200)
		case errors.As(at.Err, &st):
			out = append(out, st.Code)
		default:
			out = append(out, -1)
		}
	}
	return out
}

// readInOrder reads events until one with ID >= last and checks that the
// IDs so far are 1, 2, 3, … with no gap and no duplicate.
func readInOrder(t *testing.T, st streamLike, from, last int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	want := from
	for want <= last {
		select {
		case ev, ok := <-st.Events():
			require.True(t, ok, "stream ended before event %d: %v", want, st.Err())
			require.Equal(t, strconv.Itoa(want), ev.ID, "got event %+v, want ID %d (no gap, no duplicate)", ev, want)
			require.Equal(t, "event "+strconv.Itoa(want), ev.Data, "got event %+v, want ID %d (no gap, no duplicate)", ev, want)
			require.Equal(t, "message", ev.Type, "got event %+v, want ID %d (no gap, no duplicate)", ev, want)
			want++
		case <-timeout:
			require.Fail(t, fmt.Sprintf("timed out waiting for event %d", want))
		}
	}
}

// policyTokenSource fetches a new token from cfg on every call, through the
// credential policy's client (trusting the test certificate), the way
// ssecat does.
func policyTokenSource(t *testing.T, cfg *clientcredentials.Config, allowPlainHTTP bool) oauth2.TokenSource {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, CredentialClient(trustingHTTPClient(t), allowPlainHTTP))
	return tokenFunc(func() (*oauth2.Token, error) { return cfg.Token(ctx) })
}

// secretIn reports where secret appears in a recorded request, if anywhere.
func secretIn(s seenRequest, secret string) string {
	var where []string
	if strings.Contains(s.URL, secret) {
		where = append(where, "URL "+s.URL)
	}
	for k, vs := range s.Header {
		for _, v := range vs {
			if strings.Contains(v, secret) || strings.Contains(v, url.QueryEscape(secret)) {
				where = append(where, k+": "+v)
			}
		}
	}
	return strings.Join(where, "; ")
}

// logBuffer collects every slog record at every level as text.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) records() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// rawSource is an AuthSource that writes whatever it is told, unchecked.
type rawSource func(req *http.Request)

func (f rawSource) Authorize(_ context.Context, req *http.Request) error { f(req); return nil }

func (f rawSource) Refresh(context.Context, *http.Response) error { return nil }
