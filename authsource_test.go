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
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssekit/sse/internal/authserver"
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
			if err := src.Authorize(context.Background(), req); err != nil || req.Header.Get("Authorization") != "Bearer tok1" {
				t.Errorf("Authorize: %v, %q", err, req.Header.Get("Authorization"))
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 3; i++ {
		req, err := authorizeRequest(t, src)
		if err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("Authorization"); got != "Bearer tok1" {
			t.Fatalf("Authorization = %q, want Bearer tok1", got)
		}
	}
	if n := e.hits.Load(); n != 1 {
		t.Fatalf("token endpoint hit %d times, want 1", n)
	}
}

func TestBearerRefreshOnce(t *testing.T) {
	e := newTokenEndpoint(t, nil)
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: e.URL}
	src := Bearer(freshTokenSource(cfg))
	if _, err := authorizeRequest(t, src); err != nil {
		t.Fatal(err)
	}

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
		if err != nil {
			t.Errorf("Refresh: %v", err)
		}
	}
	if got := e.hits.Load(); got != 2 {
		t.Fatalf("token endpoint hit %d times for %d concurrent refusals, want 2 (first token + one refresh)", got, n)
	}
	req, err := authorizeRequest(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer tok2" {
		t.Fatalf("after Refresh, Authorization = %q, want Bearer tok2", got)
	}

	// A late refusal of the replaced token fetches nothing.
	if err := src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok1")); err != nil {
		t.Fatal(err)
	}
	if got := e.hits.Load(); got != 2 {
		t.Fatalf("Refresh of an already replaced token fetched: %d hits", got)
	}
	// A refusal of the current one fetches again.
	if err := src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok2")); err != nil {
		t.Fatal(err)
	}
	if got := e.hits.Load(); got != 3 {
		t.Fatalf("Refresh of the current token: %d hits, want 3", got)
	}
}

func TestBearerReuseTokenSourceIsPermanent(t *testing.T) {
	e := newTokenEndpoint(t, nil)
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: e.URL}
	src := Bearer(cfg.TokenSource(context.Background())) // a ReuseTokenSource
	if _, err := authorizeRequest(t, src); err != nil {
		t.Fatal(err)
	}
	err := src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok1"))
	var perm *PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("Refresh with a caching source: %v, want a *PermanentError", err)
	}
	if !strings.Contains(err.Error(), "fetches a new token on every call") {
		t.Fatalf("error does not say what to pass instead: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "sse: ") {
		t.Fatalf("error lacks the sse: prefix: %v", err)
	}
	// The refused token is not handed out again.
	if _, err := authorizeRequest(t, src); !errors.As(err, &perm) {
		t.Fatalf("Authorize after the refusal: %v, want a *PermanentError", err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer tok1" {
		t.Fatalf("Authorization = %q, want the refreshed Bearer tok1", got)
	}
	if g, _ := grants.Load(int32(1)); g != "refresh_token rt0" {
		t.Fatalf("first grant = %q, want refresh_token rt0", g)
	}
	if err := src.Refresh(context.Background(), rejectedResponse("Authorization", "Bearer tok1")); err != nil {
		t.Fatal(err)
	}
	req, err = authorizeRequest(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Authorization"); got == "Bearer tok1" || !strings.HasPrefix(got, "Bearer tok") {
		t.Fatalf("after Refresh, Authorization = %q, want a new token", got)
	}
	if g, _ := grants.Load(int32(2)); g != "refresh_token rt1" {
		t.Fatalf("second grant = %q, want refresh_token rt1 (the rotated one)", g)
	}
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
			if err == nil {
				t.Fatal("Authorize succeeded")
			}
			assertNoSecret(t, err, secret)
			if got := isPermanent(err); got != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", got, tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sse: ") {
				t.Errorf("error %q does not start with sse: and say %q", err, tc.want)
			}
		})
	}
}

func TestBearerNetworkErrorRedactsURL(t *testing.T) {
	secret := newCanary()
	e := newTokenEndpoint(t, nil)
	e.Close() // connection refused from now on
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "s", TokenURL: e.URL + "/token?key=" + secret}
	_, err := authorizeRequest(t, Bearer(freshTokenSource(cfg)))
	if err == nil || isPermanent(err) {
		t.Fatalf("Authorize with the endpoint down: %v, want a retryable error", err)
	}
	assertNoSecret(t, err, secret)
	if !strings.Contains(err.Error(), "key=REDACTED") {
		t.Errorf("error does not show the redacted URL: %v", err)
	}
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
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Authorize after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Authorize did not return after its context was cancelled")
	}
	// Refresh also returns at once while the call is still blocked.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := src.Refresh(ctx2, rejectedResponse("", "")); !errors.Is(err, context.Canceled) && err != nil {
		t.Fatalf("Refresh with a cancelled context: %v", err)
	}
	// The call in flight completes, and its token is used without a second call.
	close(release)
	req, err := authorizeRequest(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Authorization") != "Bearer late" || calls.Load() != 1 {
		t.Fatalf("Authorization %q after %d calls, want Bearer late after 1", req.Header.Get("Authorization"), calls.Load())
	}
}

func TestBearerBadTokens(t *testing.T) {
	for _, tok := range []*oauth2.Token{nil, {}, {AccessToken: "a\r\nX-Evil: 1"}, {AccessToken: "a\x00b"}, {AccessToken: "a\nb"}} {
		src := Bearer(tokenFunc(func() (*oauth2.Token, error) { return tok, nil }))
		req, err := authorizeRequest(t, src)
		if !isPermanent(err) {
			t.Errorf("token %#v: err = %v, want a *PermanentError", tok, err)
		}
		if req.Header.Get("Authorization") != "" {
			t.Errorf("token %#v was set: %q", tok, req.Header.Get("Authorization"))
		}
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
		if err != nil {
			t.Fatal(err)
		}
		if got, want := req.Header.Get("Authorization"), fmt.Sprint("Bearer t", i); got != want {
			t.Fatalf("attempt %d: %q, want %q", i, got, want)
		}
	}
}

func TestQueryToken(t *testing.T) {
	var n atomic.Int32
	src := QueryToken("", func(ctx context.Context) (string, error) {
		return fmt.Sprint("qt", n.Add(1)), ctx.Err()
	})
	for i := 1; i <= 2; i++ {
		req, err := authorizeRequest(t, src)
		if err != nil {
			t.Fatal(err)
		}
		q := req.URL.Query()
		if q.Get("token") != fmt.Sprint("qt", i) || q.Get("x") != "1" {
			t.Fatalf("attempt %d: query %q, want token=qt%d and x=1 kept", i, req.URL.RawQuery, i)
		}
	}
	if err := src.Refresh(context.Background(), rejectedResponse("", "")); err != nil {
		t.Fatalf("Refresh: %v", err)
	}

	custom := QueryToken("access_token", func(context.Context) (string, error) { return "a b&c", nil })
	req, err := authorizeRequest(t, custom)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.URL.Query().Get("access_token"); got != "a b&c" {
		t.Fatalf("custom param = %q", got)
	}

	for _, bad := range []string{"", "a\rb", "a\nb", "a\x00b"} {
		src := QueryToken("", func(context.Context) (string, error) { return bad, nil })
		req, err := authorizeRequest(t, src)
		if !isPermanent(err) || req.URL.Query().Has("token") {
			t.Errorf("token %q: err %v, query %q; want a *PermanentError and no token", bad, err, req.URL.RawQuery)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err = QueryToken("", func(context.Context) (string, error) { called = true; return "x", nil }).
		Authorize(ctx, httptest.NewRequest(http.MethodGet, "https://example.test/", nil))
	if !errors.Is(err, context.Canceled) || called {
		t.Fatalf("cancelled Authorize: %v (called %v)", err, called)
	}
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
	if !isPermanent(err) {
		t.Fatalf("401 from the token endpoint: %v, want permanent", err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar}
	login := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/login", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	if err := login(context.Background()); err != nil {
		t.Fatal(err)
	}
	src := Cookies(jar, login)
	req := httptest.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	if err := src.Authorize(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Cookie"); got != "session=s1" {
		t.Fatalf("Cookie = %q, want session=s1", got)
	}
	// Another origin gets nothing from the jar.
	other := httptest.NewRequest(http.MethodGet, "https://example.test/events", nil)
	if err := src.Authorize(context.Background(), other); err != nil || other.Header.Get("Cookie") != "" {
		t.Fatalf("other origin: Cookie %q, err %v", other.Header.Get("Cookie"), err)
	}

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
		if err != nil {
			t.Errorf("Refresh: %v", err)
		}
	}
	if got := logins.Load(); got != 2 {
		t.Fatalf("%d logins for %d concurrent refusals, want 2 (first + one relogin)", got, n)
	}
	req2 := httptest.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	if err := src.Authorize(context.Background(), req2); err != nil || req2.Header.Get("Cookie") != "session=s2" {
		t.Fatalf("after relogin: Cookie %q, err %v", req2.Header.Get("Cookie"), err)
	}

	// Without a relogin function a refusal is permanent.
	err = Cookies(jar, nil).Refresh(context.Background(), &http.Response{StatusCode: 401, Request: req2})
	if !isPermanent(err) {
		t.Fatalf("Refresh without relogin: %v, want permanent", err)
	}
	// A failing relogin is retryable unless it says otherwise, and cancellation wins.
	failing := Cookies(jar, func(context.Context) error { return errors.New("login down") })
	if err := failing.Refresh(context.Background(), &http.Response{StatusCode: 401, Request: req2}); err == nil || isPermanent(err) || !strings.HasPrefix(err.Error(), "sse: ") {
		t.Fatalf("failing relogin: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	blocked := Cookies(jar, func(ctx context.Context) error { return ctx.Err() })
	if err := blocked.Refresh(ctx, &http.Response{StatusCode: 401, Request: req2}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Refresh: %v", err)
	}
}

func TestCookiesRefusesControlCharacters(t *testing.T) {
	u, _ := url.Parse("https://example.test/")
	src := Cookies(fixedJar{u: u, c: []*http.Cookie{{Name: "s", Value: "a\r\nb"}}}, nil)
	req, err := authorizeRequest(t, src)
	if !isPermanent(err) || req.Header.Get("Cookie") != "" {
		t.Fatalf("err %v, Cookie %q", err, req.Header.Get("Cookie"))
	}
}

func TestHeaders(t *testing.T) {
	h := http.Header{"X-Api-Key": {"k1"}, "X-Multi": {"a", "b"}}
	src := Headers(h)
	h.Set("X-Api-Key", "changed") // Headers copied h
	req := httptest.NewRequest(http.MethodGet, "https://example.test/", nil)
	req.Header.Set("X-Api-Key", "old")
	if err := src.Authorize(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Values("X-Api-Key"); !reflect.DeepEqual(got, []string{"k1"}) {
		t.Fatalf("X-Api-Key = %q, want [k1]", got)
	}
	if got := req.Header.Values("X-Multi"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("X-Multi = %q", got)
	}
	if err := src.Refresh(context.Background(), rejectedResponse("", "")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []http.Header{{"X-K": {"a\r\nb"}}, {"X-K": {"a\x00"}}, {"X-K\n": {"v"}}} {
		req, err := authorizeRequest(t, Headers(bad))
		if !isPermanent(err) || len(req.Header) != 0 {
			t.Errorf("%q: err %v, header %q", bad, err, req.Header)
		}
		if err != nil && hasCtl(err.Error()) {
			t.Errorf("control character in error %q", err)
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
	if !errors.Is(err, boom) {
		t.Fatalf("Authorize: %v, want boom", err)
	}
	if got := req.Header.Values("X-Order"); !reflect.DeepEqual(got, []string{"1", "2"}) {
		t.Fatalf("order %q, want [1 2] (stop at the first error)", got)
	}
	log = nil
	perm := &PermanentError{Err: errors.New("sse: gone")}
	src = Combine(spySource{name: "1", log: &log, refErr: boom}, spySource{name: "2", log: &log}, spySource{name: "3", log: &log, refErr: perm})
	err = src.Refresh(context.Background(), rejectedResponse("", ""))
	if !reflect.DeepEqual(log, []string{"R1", "R2", "R3"}) {
		t.Fatalf("Refresh calls %q, want every source", log)
	}
	if !errors.Is(err, boom) || !errors.Is(err, perm) || !isPermanent(err) {
		t.Fatalf("Refresh: %v, want both errors joined, permanent", err)
	}
	if err := Combine().Refresh(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := authorizeRequest(t, Combine(Headers(http.Header{"X-Api-Key": {"k"}}), QueryToken("", func(context.Context) (string, error) { return "q", nil }))); err != nil {
		t.Fatal(err)
	}
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
		if req.URL.RawQuery != tc.want {
			t.Errorf("%q: got %q, want %q", tc.raw, req.URL.RawQuery, tc.want)
		}
	}
}

// End-to-end: each source against internal/authserver through a Client.

func TestBearerEndToEndExpiryMidStream(t *testing.T) {
	clk := newFakeClock()
	as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, ClientID: "id", ClientSecret: "secret", TokenTTL: time.Minute})
	cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/token"}
	var attempts attemptLog
	st, err := fastAuthClient(Bearer(freshTokenSource(cfg)), &attempts).Connect(context.Background(), srv.URL+"/events/bearer")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	readInOrder(t, st, 1, 3)
	clk.Advance(2 * time.Minute) // the token expires: auth_expired, then close
	readInOrder(t, st, 4, 10)
	if n, err := strconv.Atoi(st.LastEventID()); err != nil || n < 10 {
		t.Fatalf("LastEventID %q, want 10 or more", st.LastEventID())
	}
	s := as.Stats()
	if s.Expired != 1 || s.TokensIssued != 2 || s.StreamsOpened != 2 || s.Rejected != 0 {
		t.Fatalf("server stats %+v; want 1 expiry, 2 tokens, 2 streams, no 401", s)
	}
	if got := fmt.Sprint(attempts.statuses()); got != "[200 200]" {
		t.Fatalf("attempts %s, want [200 200] (refresh on auth_expired, then reconnect)", got)
	}
}

func TestBearerEndToEnd401(t *testing.T) {
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
	st, err := fastAuthClient(Bearer(ts), &attempts).Connect(context.Background(), srv.URL+"/events/bearer")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	readInOrder(t, st, 1, 3)
	if s := as.Stats(); s.Rejected != 1 || s.StreamsOpened != 1 || calls.Load() != 2 {
		t.Fatalf("stats %+v after %d token calls; want one 401, one stream, 2 calls", s, calls.Load())
	}
	if got := fmt.Sprint(attempts.statuses()); got != "[401 200]" {
		t.Fatalf("attempts %s, want [401 200]", got)
	}
}

func TestBearerEndToEndRefusedAgainIsPermanent(t *testing.T) {
	_, srv := newAuthServer(t, authserver.Options{})
	// A source that keeps serving one token the server does not know.
	src := Bearer(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "unknown"}))
	_, err := fastAuthClient(src, nil).Connect(context.Background(), srv.URL+"/events/bearer")
	var ae *AuthError
	if !isPermanent(err) || !errors.As(err, &ae) || !strings.Contains(err.Error(), "fetches a new token on every call") {
		t.Fatalf("Connect: %v; want a permanent *AuthError saying what to pass instead", err)
	}
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
	clk := newFakeClock()
	as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, Password: "pw", SessionTTL: time.Minute})
	jar, _ := cookiejar.New(nil)
	var attempts attemptLog
	// No session yet: the first attempt is refused, Refresh logs in.
	st, err := fastAuthClient(Cookies(jar, loginFunc(srv.URL, "pw", jar)), &attempts).Connect(context.Background(), srv.URL+"/events/cookie")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	readInOrder(t, st, 1, 3)
	clk.Advance(2 * time.Minute) // the session expires mid-stream
	readInOrder(t, st, 4, 8)
	if s := as.Stats(); s.Logins != 2 || s.Rejected != 1 || s.Expired != 1 || s.StreamsOpened != 2 {
		t.Fatalf("server stats %+v; want 2 logins, one 401, one expiry, 2 streams", s)
	}
	if got := fmt.Sprint(attempts.statuses()); got != "[401 200 200]" {
		t.Fatalf("attempts %s, want [401 200 200]", got)
	}
}

func TestQueryTokenEndToEnd(t *testing.T) {
	clk := newFakeClock()
	as, srv := newAuthServer(t, authserver.Options{Now: clk.Now, Password: "pw"})
	jar, _ := cookiejar.New(nil)
	if err := loginFunc(srv.URL, "pw", jar)(context.Background()); err != nil {
		t.Fatal(err)
	}
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
	st, err := fastAuthClient(src, &attempts).Connect(context.Background(), srv.URL+"/events/token")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	readInOrder(t, st, 1, 3)
	clk.Advance(61 * time.Second) // query tokens live at most 60 s
	readInOrder(t, st, 4, 8)
	if s := as.Stats(); s.QueryTokensIssued != 2 || s.Expired != 1 || s.StreamsOpened != 2 || s.Rejected != 0 {
		t.Fatalf("server stats %+v; want 2 tokens, one expiry, 2 streams, no 401", s)
	}
	if got := fmt.Sprint(attempts.statuses()); got != "[200 200]" {
		t.Fatalf("attempts %s, want [200 200]", got)
	}
}
