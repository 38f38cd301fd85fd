package sse

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/sse/internal/authserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ticketEndpoint serves tickets "t<N>" as {"ticket": ...}, or handle's
// answer when handle returns a non-zero code. It records the last method.
type ticketEndpoint struct {
	*httptest.Server
	hits   atomic.Int32
	method atomic.Value
	handle func(n int32, w http.ResponseWriter, r *http.Request) bool
}

func newTicketEndpoint(t *testing.T, handle func(n int32, w http.ResponseWriter, r *http.Request) bool) *ticketEndpoint {
	t.Helper()
	e := &ticketEndpoint{handle: handle}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.hits.Add(1)
		e.method.Store(r.Method)
		if e.handle != nil && e.handle(n, w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ticket":"t%d","expires_in":30}`, n)
	}))
	t.Cleanup(e.Close)
	return e
}

func TestTicketSourceFreshTicketEveryAttempt(t *testing.T) {
	e := newTicketEndpoint(t, nil)
	src := &TicketSource{URL: e.URL + "/ticket"}
	for i := 1; i <= 3; i++ {
		req, err := authorizeRequest(t, src)
		require.NoError(t, err)
		q := req.URL.Query()
		require.Equal(t, fmt.Sprint("t", i), q.Get("ticket"), "attempt %d: query %q", i, req.URL.RawQuery)
		require.Equal(t, "1", q.Get("x"), "attempt %d: query %q", i, req.URL.RawQuery)
		// Refresh after a 401 is a no-op; the retry's Authorize gets a new ticket.
		require.NoError(t, src.Refresh(context.Background(), &http.Response{StatusCode: 401, Request: req}))
	}
	m := e.method.Load()
	require.Equal(t, http.MethodPost, m, "method %v, want POST by default", m)
}

func TestTicketSourceOptions(t *testing.T) {
	e := newTicketEndpoint(t, func(n int32, w http.ResponseWriter, r *http.Request) bool {
		fmt.Fprintf(w, `{"data":{"x":1},"sse_ticket":"k%d"}`, n)
		return true
	})
	src := &TicketSource{URL: e.URL, Method: http.MethodGet, Field: "sse_ticket", Param: "t"}
	req, err := authorizeRequest(t, src)
	require.NoError(t, err)
	got := req.URL.Query().Get("t")
	require.Equal(t, "k1", got, "param t = %q, want k1", got)
	m := e.method.Load()
	require.Equal(t, http.MethodGet, m, "method %v, want GET", m)
}

func TestTicketSourceErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answer    func(w http.ResponseWriter, secret string)
		maxSize   int64
		permanent bool
	}{
		{"401", func(w http.ResponseWriter, s string) { http.Error(w, "no "+s, http.StatusUnauthorized) }, 0, true},
		{"403", func(w http.ResponseWriter, s string) { http.Error(w, "no "+s, http.StatusForbidden) }, 0, true},
		{"404", func(w http.ResponseWriter, s string) { http.Error(w, "no "+s, 404) }, 0, true},
		{"429", func(w http.ResponseWriter, s string) { http.Error(w, "slow "+s, http.StatusTooManyRequests) }, 0, false},
		{"500", func(w http.ResponseWriter, s string) { http.Error(w, "oops "+s, 500) }, 0, false},
		{"503", func(w http.ResponseWriter, s string) {
			http.Error(w, `{"ticket":"`+s+`"}`, http.StatusServiceUnavailable)
		}, 0, false},
		{"not json", func(w http.ResponseWriter, s string) { fmt.Fprint(w, "<html>"+s) }, 0, false},
		{"no field", func(w http.ResponseWriter, s string) { fmt.Fprintf(w, `{"tiket":%q}`, s) }, 0, false},
		{"not a string", func(w http.ResponseWriter, s string) { fmt.Fprintf(w, `{"ticket":[%q]}`, s) }, 0, false},
		{"too large", func(w http.ResponseWriter, s string) {
			fmt.Fprintf(w, `{"ticket":%q,"pad":"%s"}`, s, strings.Repeat("x", 200))
		}, 100, false},
		{"CRLF", func(w http.ResponseWriter, s string) { fmt.Fprintf(w, `{"ticket":"%s\r\nX-Evil: 1"}`, s) }, 0, true},
		{"NUL", func(w http.ResponseWriter, s string) { fmt.Fprintf(w, `{"ticket":"%s\u0000"}`, s) }, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := newCanary()
			e := newTicketEndpoint(t, func(_ int32, w http.ResponseWriter, _ *http.Request) bool {
				tc.answer(w, secret)
				return true
			})
			src := &TicketSource{URL: e.URL + "/ticket?api_key=" + secret, MaxSize: tc.maxSize}
			req, err := authorizeRequest(t, src)
			require.Error(t, err, "Authorize succeeded: %q", req.URL.RawQuery)
			require.False(t, req.URL.Query().Has("ticket"), "ticket set despite the error: %q", req.URL.RawQuery)
			got := isPermanent(err)
			assert.Equal(t, tc.permanent, got, "permanent = %v, want %v: %v", got, tc.permanent, err)
			assert.True(t, strings.HasPrefix(err.Error(), "sse: "), "error lacks the sse: prefix: %v", err)
			assertNoSecret(t, err, secret)
		})
	}
}

func TestTicketSourceNetworkError(t *testing.T) {
	secret := newCanary()
	e := newTicketEndpoint(t, nil)
	e.Close()
	_, err := authorizeRequest(t, &TicketSource{URL: e.URL + "/ticket?k=" + secret})
	require.Error(t, err, "endpoint down: %v, want a retryable error", err)
	require.False(t, isPermanent(err), "endpoint down: %v, want a retryable error", err)
	assertNoSecret(t, err, secret)
	assert.Contains(t, err.Error(), "k=REDACTED", "error lacks the redacted URL: %v", err)
}

func TestTicketSourceBadConfig(t *testing.T) {
	for _, src := range []*TicketSource{
		{},
		{URL: "/relative"},
		{URL: "ftp://example.test/"},
		{URL: "http://[::1"},
		{URL: "http://127.0.0.1:1/", Method: "BAD METHOD"},
	} {
		_, err := authorizeRequest(t, src)
		assert.True(t, isPermanent(err), "%+v: Authorize %v, want permanent", src, err)
		if src.Method == "" {
			assert.True(t, isPermanent(src.Refresh(context.Background(), nil)), "%+v: Refresh should report the unusable URL", src)
		}
	}
}

func TestTicketSourceHonoursContext(t *testing.T) {
	arrived := make(chan struct{})
	e := newTicketEndpoint(t, func(_ int32, w http.ResponseWriter, r *http.Request) bool {
		close(arrived)
		<-r.Context().Done() // hold the answer until the client gives up
		return true
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- (&TicketSource{URL: e.URL}).Authorize(ctx, httptest.NewRequest(http.MethodGet, "https://example.test/", nil))
	}()
	<-arrived
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled, "err %v, want context.Canceled", err)
	case <-time.After(10 * time.Second):
		require.Fail(t, "Authorize did not return after cancel")
	}
}

func TestTicketSourceEndpointCredentials(t *testing.T) {
	// The ticket endpoint wants a bearer token; it refuses tok1 (revoked).
	var fetches atomic.Int32
	bearer := Bearer(tokenFunc(func() (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: fmt.Sprint("tok", fetches.Add(1))}, nil
	}))
	e := newTicketEndpoint(t, func(n int32, w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer tok2" {
			http.Error(w, "revoked", http.StatusUnauthorized)
			return true
		}
		return false
	})
	src := &TicketSource{URL: e.URL, Auth: bearer}
	req, err := authorizeRequest(t, src)
	require.NoError(t, err)
	require.Equal(t, "t2", req.URL.Query().Get("ticket"), "query %q after %d token fetches; want ticket t2 after 2", req.URL.RawQuery, fetches.Load())
	require.Equal(t, int32(2), fetches.Load(), "query %q after %d token fetches; want ticket t2 after 2", req.URL.RawQuery, fetches.Load())

	// An endpoint that refuses every token: one refresh, then permanent.
	fetches.Store(10)
	refusing := newTicketEndpoint(t, func(_ int32, w http.ResponseWriter, _ *http.Request) bool {
		http.Error(w, "no", http.StatusUnauthorized)
		return true
	})
	_, err = authorizeRequest(t, &TicketSource{URL: refusing.URL, Auth: bearer})
	require.True(t, isPermanent(err), "err %v after %d requests; want permanent after 2", err, refusing.hits.Load())
	require.Equal(t, int32(2), refusing.hits.Load(), "err %v after %d requests; want permanent after 2", err, refusing.hits.Load())
}

func TestTicketSourceUsesHTTPClient(t *testing.T) {
	e := newTicketEndpoint(t, func(_ int32, w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("X-Via") != "custom" {
			http.Error(w, "no", http.StatusForbidden)
			return true
		}
		return false
	})
	hc := &http.Client{Transport: viaHeaderTransport{http.DefaultTransport}}
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	_, err := authorizeRequest(t, &TicketSource{URL: e.URL, HTTPClient: hc})
	require.NoError(t, err)
}

// viaHeaderTransport adds X-Via: custom to every request.
type viaHeaderTransport struct{ base http.RoundTripper }

func (rt viaHeaderTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Via", "custom")
	return rt.base.RoundTrip(r)
}

func TestTicketSourceEndToEnd(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		clk := newFakeClock()
		as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, ClientID: "id", ClientSecret: "secret", TokenTTL: time.Minute, Events: 3})
		cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/token"}
		src := &TicketSource{URL: srv.URL + "/ticket", Auth: Bearer(freshTokenSource(cfg))}
		st, err := connectVia(fc, fastAuthClient(src, nil), context.Background(), srv.URL+"/events/ticket")
		require.NoError(t, err)
		defer st.Close()
		// Three events per connection: reconnects with a new ticket each time.
		readInOrder(t, st, 1, 7)
		// The bearer token behind the tickets expires: the open stream gets
		// auth_expired, the ticket endpoint refuses the cached token once, and
		// the source refreshes it and buys a ticket with the new one.
		clk.Advance(2 * time.Minute)
		readInOrder(t, st, 8, 12)
		s := as.Stats()
		require.Equal(t, 0, s.TicketReplays, "server stats %+v; want no replay, one ticket per stream, >= 5 streams, an expiry, 2 tokens", s)
		require.Equal(t, s.StreamsOpened, s.TicketsIssued, "server stats %+v; want no replay, one ticket per stream, >= 5 streams, an expiry, 2 tokens", s)
		require.GreaterOrEqual(t, s.StreamsOpened, 5, "server stats %+v; want no replay, one ticket per stream, >= 5 streams, an expiry, 2 tokens", s)
		require.GreaterOrEqual(t, s.Expired, 1, "server stats %+v; want no replay, one ticket per stream, >= 5 streams, an expiry, 2 tokens", s)
		require.Equal(t, 2, s.TokensIssued, "server stats %+v; want no replay, one ticket per stream, >= 5 streams, an expiry, 2 tokens", s)
	})
}
