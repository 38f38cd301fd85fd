package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
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

// tokenEndpoint serves an OAuth2 token endpoint that answers each request
// with access token "tok<N>" (N counting from 1), or with handle's answer
// when handle is set and returns a non-zero code.
type tokenEndpoint struct {
	*httptest.Server
	hits   atomic.Int32
	handle func(n int32, r *http.Request) (code int, body string)
}

func newTokenEndpoint(t *testing.T, handle func(n int32, r *http.Request) (int, string)) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{handle: handle}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.hits.Add(1)
		_ = r.ParseForm()
		if e.handle != nil {
			if code, body := e.handle(n, r); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				fmt.Fprint(w, body)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok%d","token_type":"bearer","expires_in":3600}`, n)
	}))
	t.Cleanup(e.Close)
	return e
}

func TestBearerAuthorizeCachesToken(t *testing.T) {
	e := newTokenEndpoint(t, nil)
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: e.URL}
	src := Bearer(freshTokenSource(cfg))
	// Concurrent first attempts share one fetch.
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodGet, "https://example.test/", nil)
			err := src.Authorize(context.Background(), req)
			assert.NoError(t, err, "Authorize: %v, %q", err, req.Header.Get("Authorization"))
			assert.Equal(t, "Bearer tok1", req.Header.Get("Authorization"), "Authorize: %v, %q", err, req.Header.Get("Authorization"))
		}()
	}
	wg.Wait()
	for i := 0; i < 3; i++ {
		req, err := authorizeRequest(t, src)
		require.NoError(t, err)
		got := req.Header.Get("Authorization")
		require.Equal(t, "Bearer tok1", got, "Authorization = %q, want Bearer tok1", got)
	}
	n := e.hits.Load()
	require.Equal(t, int32(1), n, "token endpoint hit %d times, want 1", n)
}

func TestBearerRefreshOnce(t *testing.T) {
	e := newTokenEndpoint(t, nil)
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: e.URL}
	src := Bearer(freshTokenSource(cfg))
	_, err := authorizeRequest(t, src)
	require.NoError(t, err)

	// 20 streams sharing the source are refused tok1 at once.
	const n = 20
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs <- src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok1"))
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err, "Refresh: %v", err)
	}
	got := e.hits.Load()
	require.Equal(t, int32(2), got, "token endpoint hit %d times for %d concurrent refusals, want 2 (first token + one refresh)", got, n)
	req, err := authorizeRequest(t, src)
	require.NoError(t, err)
	require.Equal(t, "Bearer tok2", req.Header.Get("Authorization"), "after Refresh, Authorization")

	// A late refusal of the replaced token fetches nothing.
	require.NoError(t, src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok1")))
	got = e.hits.Load()
	require.Equal(t, int32(2), got, "Refresh of an already replaced token fetched: %d hits", got)
	// A refusal of the current one fetches again.
	require.NoError(t, src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok2")))
	got = e.hits.Load()
	require.Equal(t, int32(3), got, "Refresh of the current token: %d hits, want 3", got)
}

func TestBearerReuseTokenSourceIsPermanent(t *testing.T) {
	e := newTokenEndpoint(t, nil)
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: e.URL}
	src := Bearer(cfg.TokenSource(context.Background())) // a ReuseTokenSource
	_, err := authorizeRequest(t, src)
	require.NoError(t, err)
	err = src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok1"))
	var perm *PermanentError
	require.ErrorAs(t, err, &perm, "Refresh with a caching source: %v, want a *PermanentError", err)
	require.Contains(t, err.Error(), "fetches a new token on every call", "error does not say what to pass instead: %v", err)
	require.True(t, strings.HasPrefix(err.Error(), "sse: "), "error lacks the sse: prefix: %v", err)
	// The refused token is not handed out again.
	_, err = authorizeRequest(t, src)
	require.ErrorAs(t, err, &perm, "Authorize after the refusal: %v, want a *PermanentError", err)
}

func TestBearerRefreshTokenFlow(t *testing.T) {
	var grants sync.Map
	e := newTokenEndpoint(t, func(n int32, r *http.Request) (int, string) {
		grants.Store(n, r.PostForm.Get("grant_type")+" "+r.PostForm.Get("refresh_token"))
		// Tokens live 1 s, less than oauth2's 10 s expiry margin, so the
		// ReuseTokenSource refreshes on every call.
		return 200, fmt.Sprintf(`{"access_token":"tok%d","token_type":"Bearer","expires_in":1,"refresh_token":"rt%d"}`, n, n)
	})
	cfg := &oauth2.Config{ClientID: "id", ClientSecret: "secret", Endpoint: oauth2.Endpoint{TokenURL: e.URL}}
	expired := &oauth2.Token{AccessToken: "old", RefreshToken: "rt0", Expiry: time.Now().Add(-time.Hour)}
	src := Bearer(cfg.TokenSource(context.Background(), expired))
	req, err := authorizeRequest(t, src)
	require.NoError(t, err)
	got := req.Header.Get("Authorization")
	require.Equal(t, "Bearer tok1", got, "Authorization = %q, want the refreshed Bearer tok1", got)
	g, _ := grants.Load(int32(1))
	require.Equal(t, "refresh_token rt0", g, "first grant = %q, want refresh_token rt0", g)
	require.NoError(t, src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok1")))
	req, err = authorizeRequest(t, src)
	require.NoError(t, err)
	got = req.Header.Get("Authorization")
	require.NotEqual(t, "Bearer tok1", got, "after Refresh, Authorization = %q, want a new token", got)
	require.True(t, strings.HasPrefix(got, "Bearer tok"), "after Refresh, Authorization = %q, want a new token", got)
	g, _ = grants.Load(int32(2))
	require.Equal(t, "refresh_token rt1", g, "second grant = %q, want refresh_token rt1 (the rotated one)", g)
}

func TestBearerTokenEndpointErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		body      string // %s is the secret
		permanent bool
		want      string
	}{
		{"401 echo", 401, `{"error":"invalid_client","error_description":"bad secret %s"}`, true, "401 invalid_client"},
		{"400 custom code", 400, `{"error":"%s"}`, true, "400"},
		{"403 text", 403, `forbidden: %s`, true, "403"},
		{"429", 429, `slow down %s`, false, "429"},
		{"500", 500, `oops %s`, false, "500"},
		{"503 json", 503, `{"error":"temporarily_unavailable","error_description":"%s"}`, false, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := newCanary()
			e := newTokenEndpoint(t, func(_ int32, r *http.Request) (int, string) {
				// The body echoes the secret the client sent.
				return tc.code, fmt.Sprintf(tc.body, r.PostForm.Get("client_secret"))
			})
			cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: secret, TokenURL: e.URL, AuthStyle: oauth2.AuthStyleInParams}
			_, err := authorizeRequest(t, Bearer(freshTokenSource(cfg)))
			require.Error(t, err, "Authorize succeeded")
			assertNoSecret(t, err, secret)
			got := isPermanent(err)
			assert.Equal(t, tc.permanent, got, "permanent = %v, want %v: %v", got, tc.permanent, err)
			assert.Contains(t, err.Error(), tc.want, "error %q does not start with sse: and say %q", err, tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "sse: "), "error %q does not start with sse: and say %q", err, tc.want)
		})
	}
}

func TestBearerNetworkErrorRedactsURL(t *testing.T) {
	secret := newCanary()
	e := newTokenEndpoint(t, nil)
	e.Close() // connection refused from now on
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "s", TokenURL: e.URL + "/token?key=" + secret}
	_, err := authorizeRequest(t, Bearer(freshTokenSource(cfg)))
	require.Error(t, err, "Authorize with the endpoint down: %v, want a retryable error", err)
	require.False(t, isPermanent(err), "Authorize with the endpoint down: %v, want a retryable error", err)
	assertNoSecret(t, err, secret)
	assert.Contains(t, err.Error(), "key=REDACTED", "error does not show the redacted URL: %v", err)
}

func TestBearerHonoursContext(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	src := Bearer(tokenFunc(func() (*oauth2.Token, error) {
		calls.Add(1)
		<-release
		return &oauth2.Token{AccessToken: "late"}, nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- src.Authorize(ctx, httptest.NewRequest(http.MethodGet, "https://example.test/", nil))
	}()
	cancel()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled, "Authorize after cancel: %v, want context.Canceled", err)
	case <-time.After(10 * time.Second):
		require.Fail(t, "Authorize did not return after its context was cancelled")
	}
	// Refresh also returns at once while the call is still blocked.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := src.Refresh(ctx2, rejectedResponse("", "")); err != nil {
		require.ErrorIs(t, err, context.Canceled, "Refresh with a cancelled context: %v", err)
	}
	// The call in flight completes, and its token is used without a second call.
	close(release)
	req, err := authorizeRequest(t, src)
	require.NoError(t, err)
	require.Equal(t, "Bearer late", req.Header.Get("Authorization"), "Authorization %q after %d calls, want Bearer late after 1", req.Header.Get("Authorization"), calls.Load())
	require.Equal(t, int32(1), calls.Load(), "Authorization %q after %d calls, want Bearer late after 1", req.Header.Get("Authorization"), calls.Load())
}

func TestBearerBadTokens(t *testing.T) {
	for _, tok := range []*oauth2.Token{nil, {}, {AccessToken: "a\r\nX-Evil: 1"}, {AccessToken: "a\x00b"}, {AccessToken: "a\nb"}} {
		src := Bearer(tokenFunc(func() (*oauth2.Token, error) { return tok, nil }))
		req, err := authorizeRequest(t, src)
		assert.True(t, isPermanent(err), "token %#v: err = %v, want a *PermanentError", tok, err)
		assert.Equal(t, "", req.Header.Get("Authorization"), "token %#v was set: %q", tok, req.Header.Get("Authorization"))
	}
}

func TestBearerExpiredCacheFetchesAgain(t *testing.T) {
	var n atomic.Int32
	src := Bearer(tokenFunc(func() (*oauth2.Token, error) {
		i := n.Add(1)
		// Expired already: the source must not serve it from its cache.
		return &oauth2.Token{AccessToken: fmt.Sprint("t", i), Expiry: time.Now().Add(-time.Minute)}, nil
	}))
	for i := 1; i <= 2; i++ {
		req, err := authorizeRequest(t, src)
		require.NoError(t, err)
		got, want := req.Header.Get("Authorization"), fmt.Sprint("Bearer t", i)
		require.Equal(t, want, got, "attempt %d: %q, want %q", i, got, want)
	}
}

func TestQueryToken(t *testing.T) {
	var n atomic.Int32
	src := QueryToken("", func(ctx context.Context) (string, error) {
		return fmt.Sprint("qt", n.Add(1)), ctx.Err()
	})
	for i := 1; i <= 2; i++ {
		req, err := authorizeRequest(t, src)
		require.NoError(t, err)
		q := req.URL.Query()
		require.Equal(t, fmt.Sprint("qt", i), q.Get("token"), "attempt %d: query %q, want token=qt%d and x=1 kept", i, req.URL.RawQuery, i)
		require.Equal(t, "1", q.Get("x"), "attempt %d: query %q, want token=qt%d and x=1 kept", i, req.URL.RawQuery, i)
	}
	require.NoError(t, src.Refresh(context.Background(), rejectedResponse("", "")), "Refresh")

	custom := QueryToken("access_token", func(context.Context) (string, error) { return "a b&c", nil })
	req, err := authorizeRequest(t, custom)
	require.NoError(t, err)
	got := req.URL.Query().Get("access_token")
	require.Equal(t, "a b&c", got, "custom param = %q", got)

	for _, bad := range []string{"", "a\rb", "a\nb", "a\x00b"} {
		src := QueryToken("", func(context.Context) (string, error) { return bad, nil })
		req, err := authorizeRequest(t, src)
		assert.True(t, isPermanent(err), "token %q: err %v, query %q; want a *PermanentError and no token", bad, err, req.URL.RawQuery)
		assert.False(t, req.URL.Query().Has("token"), "token %q: err %v, query %q; want a *PermanentError and no token", bad, err, req.URL.RawQuery)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err = QueryToken("", func(context.Context) (string, error) { called = true; return "x", nil }).
		Authorize(ctx, httptest.NewRequest(http.MethodGet, "https://example.test/", nil))
	require.ErrorIs(t, err, context.Canceled, "cancelled Authorize: %v (called %v)", err, called)
	require.False(t, called, "cancelled Authorize: %v (called %v)", err, called)
}

func TestQueryTokenEndpointErrorRedacted(t *testing.T) {
	secret := newCanary()
	e := newTokenEndpoint(t, func(_ int32, r *http.Request) (int, string) {
		return 401, `{"error":"invalid_client","error_description":"` + r.PostForm.Get("client_secret") + `"}`
	})
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: secret, TokenURL: e.URL, AuthStyle: oauth2.AuthStyleInParams}
	src := QueryToken("", func(ctx context.Context) (string, error) {
		tok, err := cfg.Token(ctx)
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	})
	_, err := authorizeRequest(t, src)
	require.True(t, isPermanent(err), "401 from the token endpoint: %v, want permanent", err)
	assertNoSecret(t, err, secret)
}

// newLoginServer serves POST /login, which sets session=s<N>.
func newLoginServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var logins atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := logins.Add(1)
		http.SetCookie(w, &http.Cookie{Name: "session", Value: fmt.Sprint("s", n), Path: "/"})
	}))
	t.Cleanup(srv.Close)
	return srv, &logins
}

func TestCookies(t *testing.T) {
	srv, logins := newLoginServer(t)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar}
	login := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/login", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	require.NoError(t, login(context.Background()))
	src := SessionCookies(jar, login)
	req := httptest.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	require.NoError(t, src.Authorize(context.Background(), req))
	got := req.Header.Get("Cookie")
	require.Equal(t, "session=s1", got, "Cookie = %q, want session=s1", got)
	// Another origin gets nothing from the jar.
	other := httptest.NewRequest(http.MethodGet, "https://example.test/events", nil)
	err = src.Authorize(context.Background(), other)
	require.NoError(t, err, "other origin: Cookie %q, err %v", other.Header.Get("Cookie"), err)
	require.Equal(t, "", other.Header.Get("Cookie"), "other origin: Cookie %q, err %v", other.Header.Get("Cookie"), err)

	// 20 concurrent refusals of s1: one relogin.
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- src.Refresh(context.Background(), &http.Response{StatusCode: 401, Request: req})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err, "Refresh: %v", err)
	}
	require.Equal(t, int32(2), logins.Load(), "logins for %d concurrent refusals, want 2 (first + one relogin)", n)
	req2 := httptest.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	err = src.Authorize(context.Background(), req2)
	require.NoError(t, err, "after relogin: Cookie %q, err %v", req2.Header.Get("Cookie"), err)
	require.Equal(t, "session=s2", req2.Header.Get("Cookie"), "after relogin: Cookie %q, err %v", req2.Header.Get("Cookie"), err)

	// Without a relogin function a refusal is permanent.
	err = SessionCookies(jar, nil).Refresh(context.Background(), &http.Response{StatusCode: 401, Request: req2})
	require.True(t, isPermanent(err), "Refresh without relogin: %v, want permanent", err)
	// A failing relogin is retryable unless it says otherwise, and cancellation wins.
	failing := SessionCookies(jar, func(context.Context) error { return errors.New("login down") })
	err = failing.Refresh(context.Background(), &http.Response{StatusCode: 401, Request: req2})
	require.Error(t, err, "failing relogin: %v", err)
	require.False(t, isPermanent(err), "failing relogin: %v", err)
	require.True(t, strings.HasPrefix(err.Error(), "sse: "), "failing relogin: %v", err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	blocked := SessionCookies(jar, func(ctx context.Context) error { return ctx.Err() })
	err = blocked.Refresh(ctx, &http.Response{StatusCode: 401, Request: req2})
	require.ErrorIs(t, err, context.Canceled, "cancelled Refresh: %v", err)
}

func TestCookiesRefusesControlCharacters(t *testing.T) {
	u, _ := url.Parse("https://example.test/")
	src := SessionCookies(fixedJar{u: u, c: []*http.Cookie{{Name: "s", Value: "a\r\nb"}}}, nil)
	req, err := authorizeRequest(t, src)
	require.True(t, isPermanent(err), "err %v, Cookie %q", err, req.Header.Get("Cookie"))
	require.Equal(t, "", req.Header.Get("Cookie"), "err %v, Cookie %q", err, req.Header.Get("Cookie"))
}

func TestHeaders(t *testing.T) {
	h := http.Header{"X-Api-Key": {"k1"}, "X-Multi": {"a", "b"}}
	src := StaticHeaders(h)
	h.Set("X-Api-Key", "changed") // Headers copied h
	req := httptest.NewRequest(http.MethodGet, "https://example.test/", nil)
	req.Header.Set("X-Api-Key", "old")
	require.NoError(t, src.Authorize(context.Background(), req))
	got := req.Header.Values("X-Api-Key")
	require.Equal(t, []string{"k1"}, got, "X-Api-Key = %q, want [k1]", got)
	got = req.Header.Values("X-Multi")
	require.Equal(t, []string{"a", "b"}, got, "X-Multi = %q", got)
	require.NoError(t, src.Refresh(context.Background(), rejectedResponse("", "")))
	for _, bad := range []http.Header{{"X-K": {"a\r\nb"}}, {"X-K": {"a\x00"}}, {"X-K\n": {"v"}}} {
		req, err := authorizeRequest(t, StaticHeaders(bad))
		assert.True(t, isPermanent(err), "%q: err %v, header %q", bad, err, req.Header)
		assert.Empty(t, req.Header, "%q: err %v, header %q", bad, err, req.Header)
		if err != nil {
			assert.False(t, hasCtl(err.Error()), "control character in error %q", err)
		}
	}
}

// spySource records calls and answers with fixed errors.
type spySource struct {
	name            string
	log             *[]string
	authErr, refErr error
}

func (s spySource) Authorize(_ context.Context, req *http.Request) error {
	*s.log = append(*s.log, "A"+s.name)
	req.Header.Add("X-Order", s.name)
	return s.authErr
}

func (s spySource) Refresh(context.Context, *http.Response) error {
	*s.log = append(*s.log, "R"+s.name)
	return s.refErr
}

func TestCombine(t *testing.T) {
	var log []string
	boom := errors.New("sse: boom")
	src := Combine(spySource{name: "1", log: &log}, nil, spySource{name: "2", log: &log, authErr: boom}, spySource{name: "3", log: &log})
	req, err := authorizeRequest(t, src)
	require.ErrorIs(t, err, boom, "Authorize: %v, want boom", err)
	got := req.Header.Values("X-Order")
	require.Equal(t, []string{"1", "2"}, got, "order %q, want [1 2] (stop at the first error)", got)
	log = nil
	perm := &PermanentError{Err: errors.New("sse: gone")}
	src = Combine(spySource{name: "1", log: &log, refErr: boom}, spySource{name: "2", log: &log}, spySource{name: "3", log: &log, refErr: perm})
	err = src.Refresh(context.Background(), rejectedResponse("", ""))
	require.Equal(t, []string{"R1", "R2", "R3"}, log, "Refresh calls %q, want every source", log)
	require.ErrorIs(t, err, boom, "Refresh: %v, want both errors joined, permanent", err)
	require.ErrorIs(t, err, perm, "Refresh: %v, want both errors joined, permanent", err)
	require.True(t, isPermanent(err), "Refresh: %v, want both errors joined, permanent", err)
	require.NoError(t, Combine().Refresh(context.Background(), nil))
	_, err = authorizeRequest(t, Combine(StaticHeaders(http.Header{"X-Api-Key": {"k"}}), QueryToken("", func(context.Context) (string, error) { return "q", nil })))
	require.NoError(t, err)
}

func TestSetQueryKeepsTheCallersQuery(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"", "token=a+b%26"},
		{"z=1&a=2", "z=1&a=2&token=a+b%26"},
		{"token=old&x=%zz&token=old2&y", "x=%zz&y&token=a+b%26"},
		{"tok%65n=old&b=1", "b=1&token=a+b%26"},
	} {
		req := httptest.NewRequest(http.MethodGet, "https://example.test/", nil)
		req.URL.RawQuery = tc.raw
		setQuery(req, "token", "a b&")
		assert.Equal(t, tc.want, req.URL.RawQuery, "%q: got %q, want %q", tc.raw, req.URL.RawQuery, tc.want)
	}
}

// End-to-end: each source against internal/authserver through a Client,
// through both faces.

func TestBearerEndToEndExpiryMidStream(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		clk := newFakeClock()
		as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, ClientID: "id", ClientSecret: "secret", TokenTTL: time.Minute})
		cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/token"}
		var attempts attemptLog
		st, err := connectVia(fc, fastAuthClient(Bearer(freshTokenSource(cfg)), &attempts), context.Background(), srv.URL+"/events/bearer")
		require.NoError(t, err)
		defer st.Close()
		readInOrder(t, st, 1, 3)
		clk.Advance(2 * time.Minute) // the token expires: auth_expired, then close
		readInOrder(t, st, 4, 10)
		n, err := strconv.Atoi(st.LastEventID())
		require.NoError(t, err, "LastEventID %q, want 10 or more", st.LastEventID())
		require.GreaterOrEqual(t, n, 10, "LastEventID %q, want 10 or more", st.LastEventID())
		s := as.Stats()
		require.Equal(t, 1, s.Expired, "server stats %+v; want 1 expiry, 2 tokens, 2 streams, no 401", s)
		require.Equal(t, 2, s.TokensIssued, "server stats %+v; want 1 expiry, 2 tokens, 2 streams, no 401", s)
		require.Equal(t, 2, s.StreamsOpened, "server stats %+v; want 1 expiry, 2 tokens, 2 streams, no 401", s)
		require.Equal(t, 0, s.Rejected, "server stats %+v; want 1 expiry, 2 tokens, 2 streams, no 401", s)
		got := fmt.Sprint(attempts.statuses())
		require.Equal(t, "[200 200]", got, "attempts %s, want [200 200] (refresh on auth_expired, then reconnect)", got)
	})
}

func TestBearerEndToEnd401(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		clk := newFakeClock()
		as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, ClientID: "id", ClientSecret: "secret"})
		revoked, _ := as.IssueToken()
		as.Revoke(revoked)
		cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/token"}
		var calls atomic.Int32
		ts := tokenFunc(func() (*oauth2.Token, error) {
			if calls.Add(1) == 1 {
				return &oauth2.Token{AccessToken: revoked}, nil // what a stale cache would hold
			}
			return cfg.Token(context.Background())
		})
		var attempts attemptLog
		st, err := connectVia(fc, fastAuthClient(Bearer(ts), &attempts), context.Background(), srv.URL+"/events/bearer")
		require.NoError(t, err)
		defer st.Close()
		readInOrder(t, st, 1, 3)
		s := as.Stats()
		require.Equal(t, 1, s.Rejected, "stats %+v after %d token calls; want one 401, one stream, 2 calls", s, calls.Load())
		require.Equal(t, 1, s.StreamsOpened, "stats %+v after %d token calls; want one 401, one stream, 2 calls", s, calls.Load())
		require.Equal(t, int32(2), calls.Load(), "stats %+v after %d token calls; want one 401, one stream, 2 calls", s, calls.Load())
		got := fmt.Sprint(attempts.statuses())
		require.Equal(t, "[401 200]", got, "attempts %s, want [401 200]", got)
	})
}

func TestBearerEndToEndRefusedAgainIsPermanent(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		_, srv := newAuthServer(t, authserver.Options{})
		// A source that keeps serving one token the server does not know.
		src := Bearer(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "unknown"}))
		_, err := connectVia(fc, fastAuthClient(src, nil), context.Background(), srv.URL+"/events/bearer")
		var ae *AuthError
		require.True(t, isPermanent(err), "Connect: %v; want a permanent *AuthError saying what to pass instead", err)
		require.ErrorAs(t, err, &ae, "Connect: %v; want a permanent *AuthError saying what to pass instead", err)
		require.Contains(t, err.Error(), "fetches a new token on every call", "Connect: %v; want a permanent *AuthError saying what to pass instead", err)
	})
}

// loginFunc returns a relogin function that posts the password to /login
// with a client that stores the session in jar.
func loginFunc(srvURL, password string, jar http.CookieJar) func(ctx context.Context) error {
	hc := &http.Client{Jar: jar}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srvURL+"/login", strings.NewReader(url.Values{"password": {password}}.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("login: %d", resp.StatusCode)
		}
		return nil
	}
}

func TestCookiesEndToEnd(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		clk := newFakeClock()
		as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, Password: "pw", SessionTTL: time.Minute})
		jar, _ := cookiejar.New(nil)
		var attempts attemptLog
		// No session yet: the first attempt is refused, Refresh logs in.
		st, err := connectVia(fc, fastAuthClient(SessionCookies(jar, loginFunc(srv.URL, "pw", jar)), &attempts), context.Background(), srv.URL+"/events/cookie")
		require.NoError(t, err)
		defer st.Close()
		readInOrder(t, st, 1, 3)
		clk.Advance(2 * time.Minute) // the session expires mid-stream
		readInOrder(t, st, 4, 8)
		s := as.Stats()
		require.Equal(t, 2, s.Logins, "server stats %+v; want 2 logins, one 401, one expiry, 2 streams", s)
		require.Equal(t, 1, s.Rejected, "server stats %+v; want 2 logins, one 401, one expiry, 2 streams", s)
		require.Equal(t, 1, s.Expired, "server stats %+v; want 2 logins, one 401, one expiry, 2 streams", s)
		require.Equal(t, 2, s.StreamsOpened, "server stats %+v; want 2 logins, one 401, one expiry, 2 streams", s)
		got := fmt.Sprint(attempts.statuses())
		require.Equal(t, "[401 200 200]", got, "attempts %s, want [401 200 200]", got)
	})
}

func TestQueryTokenEndToEnd(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		clk := newFakeClock()
		as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, Password: "pw"})
		jar, _ := cookiejar.New(nil)
		require.NoError(t, loginFunc(srv.URL, "pw", jar)(context.Background()))
		hc := &http.Client{Jar: jar}
		src := QueryToken("", func(ctx context.Context) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/query-token", nil)
			if err != nil {
				return "", err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			var v struct{ Token string }
			if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
				return "", err
			}
			return v.Token, nil
		})
		var attempts attemptLog
		st, err := connectVia(fc, fastAuthClient(src, &attempts), context.Background(), srv.URL+"/events/token")
		require.NoError(t, err)
		defer st.Close()
		readInOrder(t, st, 1, 3)
		clk.Advance(61 * time.Second) // query tokens live at most 60 s
		readInOrder(t, st, 4, 8)
		s := as.Stats()
		require.Equal(t, 2, s.QueryTokensIssued, "server stats %+v; want 2 tokens, one expiry, 2 streams, no 401", s)
		require.Equal(t, 1, s.Expired, "server stats %+v; want 2 tokens, one expiry, 2 streams, no 401", s)
		require.Equal(t, 2, s.StreamsOpened, "server stats %+v; want 2 tokens, one expiry, 2 streams, no 401", s)
		require.Equal(t, 0, s.Rejected, "server stats %+v; want 2 tokens, one expiry, 2 streams, no 401", s)
		got := fmt.Sprint(attempts.statuses())
		require.Equal(t, "[200 200]", got, "attempts %s, want [200 200]", got)
	})
}
