package sse

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The findings of issue 12, one test each, named after the finding: each
// failed on the code before the credential policy and passes with it.

// redirectHandler answers every request but those for /final (served by final)
// with a redirect to to.
func redirectHandler(code int, to string, final http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			final(w, r)
			return
		}
		http.Redirect(w, r, to, code)
	}
}

// serveTicket answers with a ticket.
func serveTicket(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"ticket":"tk1"}`)
}

// redirectScenario is one cross-origin redirect: from the endpoint at a (named
// aHost) to another origin, which must see no credential.
type redirectScenario struct {
	name  string
	aHost string
	// setup installs the handlers; final serves the endpoint's answer. It
	// returns the origin that must see nothing.
	setup func(a, b, plain *testOrigin, code int, final http.HandlerFunc) *testOrigin
}

// redirectScenarios are the cross-origin redirects every endpoint is tested
// with: another host, another port, another scheme, a→b→a, and a Location
// that repeats the query.
var redirectScenarios = []redirectScenario{
	{"cross-host", "a.test", func(a, b, _ *testOrigin, code int, final http.HandlerFunc) *testOrigin {
		a.serve(redirectHandler(code, b.URL("b.test", "/final"), final))
		b.serve(final)
		return b
	}},
	{"cross-port", "127.0.0.1", func(a, b, _ *testOrigin, code int, final http.HandlerFunc) *testOrigin {
		a.serve(redirectHandler(code, b.URL("127.0.0.1", "/final"), final))
		b.serve(final)
		return b
	}},
	{"https-to-http-same-host", "a.test", func(a, _, plain *testOrigin, code int, final http.HandlerFunc) *testOrigin {
		a.serve(redirectHandler(code, plain.URL("a.test", "/final"), final))
		plain.serve(final)
		return plain
	}},
	{"chain-a-b-a", "a.test", func(a, b, _ *testOrigin, code int, final http.HandlerFunc) *testOrigin {
		a.serve(redirectHandler(code, b.URL("b.test", "/back"), final))
		b.serve(redirectHandler(code, a.URL("a.test", "/final"), final))
		return b
	}},
	{"location-repeats-query", "a.test", func(a, b, _ *testOrigin, code int, final http.HandlerFunc) *testOrigin {
		a.serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, b.URL("b.test", "/final?"+r.URL.RawQuery), code)
		})
		b.serve(final)
		return b
	}},
}

// assertOtherUntouched fails t when the other origin saw none of the redirect, or
// saw secret anywhere.
func assertOtherUntouched(t *testing.T, other *testOrigin, secret string) {
	t.Helper()
	seen := other.requests()
	require.NotEmpty(t, seen, "the other origin saw no request: the redirect did not happen")
	for _, s := range seen {
		require.Empty(t, secretIn(s, secret), "a credential reached the other origin %s%s", s.Host, s.URL)
		for _, h := range []string{"Authorization", "Cookie", "X-Api-Key", "Proxy-Authorization"} {
			require.Empty(t, s.Header.Get(h), "the other origin got %s", h)
		}
	}
}

func TestFinding1TicketEndpointCredentialsStayHome(t *testing.T) {
	a, b, plain := newTestOrigin(t, true), newTestOrigin(t, true), newTestOrigin(t, false)
	for _, sc := range redirectScenarios {
		for _, code := range []int{301, 302, 303, 307, 308} {
			t.Run(fmt.Sprintf("%s/%d", sc.name, code), func(t *testing.T) {
				secret := newCanary()
				other := sc.setup(a, b, plain, code, serveTicket)
				jar, _ := cookiejar.New(nil)
				for _, h := range []string{"a.test", "127.0.0.1"} {
					jar.SetCookies(&url.URL{Scheme: "https", Host: h, Path: "/"}, []*http.Cookie{{Name: "s", Value: "ck" + secret, Path: "/"}})
				}
				hc := trustingHTTPClient(t)
				hc.Jar = jar
				src := &TicketSource{
					URL:        a.URL(sc.aHost, "/ticket?k=uk"+secret),
					HTTPClient: hc,
					Auth: Combine(
						Bearer(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "bt" + secret})),
						StaticHeaders(http.Header{"X-Api-Key": {"key" + secret}, "User-Agent": {"ua" + secret}}),
					),
				}
				_, _ = authorizeRequest(t, src)
				first := a.requests()
				require.NotEmpty(t, first)
				require.Contains(t, first[0].Header.Get("Authorization"), secret, "the endpoint's own origin lacks its credential")
				assertOtherUntouched(t, other, secret)
			})
		}
	}
}

func TestFinding2LocationSecretsScrubbed(t *testing.T) {
	badLocation := func(loc func(r *http.Request) string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Location"] = []string{loc(r)}
			w.WriteHeader(http.StatusFound)
		}
	}
	t.Run("ticket URL query", func(t *testing.T) {
		secret := newCanary()
		o := newTestOrigin(t, true)
		o.serve(badLocation(func(r *http.Request) string { return "/t%zz?" + r.URL.RawQuery }))
		src := &TicketSource{URL: o.URL("a.test", "/ticket?k="+secret), HTTPClient: trustingHTTPClient(t)}
		_, err := authorizeRequest(t, src)
		require.Error(t, err)
		assertNoSecret(t, err, secret)
	})
	t.Run("token URL query", func(t *testing.T) {
		secret := newCanary()
		o := newTestOrigin(t, false)
		o.serve(badLocation(func(r *http.Request) string { return "/t%zz?" + r.URL.RawQuery }))
		cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "cs" + secret, TokenURL: o.URL("127.0.0.1", "/token?k="+secret)}
		_, err := authorizeRequest(t, Bearer(freshTokenSource(cfg)))
		require.Error(t, err)
		assertNoSecret(t, err, secret)
	})
	forFaces(t, func(t *testing.T, fc face) {
		for _, loc := range []struct {
			name string
			f    func(r *http.Request) string
		}{
			{"relative, escaped", func(r *http.Request) string { return "/e%zz?" + r.URL.RawQuery }},
			{"absolute, escaped", func(r *http.Request) string { return "http://bad host:x/?" + r.URL.RawQuery }},
			{"in the path, escaped", func(r *http.Request) string { return "/%zz/" + r.URL.RawQuery }},
			{"in the path, unescaped", func(r *http.Request) string { return "/%zz/" + r.URL.Query().Get("token") }},
		} {
			t.Run("stream query token needing escapes/"+loc.name, func(t *testing.T) {
				secret := newCanary()
				o := newTestOrigin(t, true)
				o.serve(badLocation(loc.f))
				logs := &logBuffer{}
				var attempts attemptLog
				c := &Client{
					HTTPClient: trustingHTTPClient(t),
					Auth:       QueryToken("token", func(context.Context) (string, error) { return "a/b+" + secret + "==", nil }),
					Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.Level(-100)})),
					OnAttempt:  attempts.add,
					RetryDelay: time.Millisecond, MinRetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond,
					MaxRetries: 2,
				}
				st, err := connectVia(fc, c, context.Background(), o.URL("a.test", "/events"))
				if err == nil {
					st.Close()
				}
				require.Error(t, err)
				assertNoSecret(t, err, secret)
				require.NotContains(t, logs.String(), secret)
				attempts.mu.Lock()
				defer attempts.mu.Unlock()
				require.NotEmpty(t, attempts.all)
				for _, at := range attempts.all {
					require.NotContains(t, at.URL, secret)
					assertNoSecret(t, at.Err, secret)
				}
			})
		}
	})
}

func TestFinding3PlainHTTPTicketEndpointRefused(t *testing.T) {
	plain := newTestOrigin(t, false)
	for _, tc := range []struct {
		name string
		src  func(secret string) *TicketSource
	}{
		{"bearer and API key", func(s string) *TicketSource {
			return &TicketSource{URL: plain.URL("a.test", "/ticket"), HTTPClient: trustingHTTPClient(t), Auth: Combine(
				Bearer(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "bt" + s})),
				StaticHeaders(http.Header{"X-Api-Key": {"key" + s}}))}
		}},
		{"userinfo", func(s string) *TicketSource {
			u := plain.URL("a.test", "/ticket")
			return &TicketSource{URL: strings.Replace(u, "://", "://user:"+s+"@", 1), HTTPClient: trustingHTTPClient(t)}
		}},
		{"no credential but the ticket itself", func(string) *TicketSource {
			return &TicketSource{URL: plain.URL("a.test", "/ticket"), HTTPClient: trustingHTTPClient(t)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := newCanary()
			plain.serve(serveTicket)
			_, err := authorizeRequest(t, tc.src(secret))
			require.Error(t, err)
			require.True(t, isPermanent(err), "not permanent: %v", err)
			require.Contains(t, err.Error(), "plain http")
			assertNoSecret(t, err, secret)
			require.Empty(t, plain.requests(), "the ticket request was sent over plain http to a host that is not loopback")
		})
	}
	t.Run("loopback (control)", func(t *testing.T) {
		plain.serve(serveTicket)
		req, err := authorizeRequest(t, &TicketSource{URL: plain.URL("127.0.0.1", "/ticket"), Auth: StaticHeaders(http.Header{"X-Api-Key": {"k"}})})
		require.NoError(t, err)
		require.Equal(t, "tk1", req.URL.Query().Get("ticket"))
	})
}

func TestFinding4UserinfoAndCallerCredentialsOverPlainHTTP(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		plain := newTestOrigin(t, false)
		for _, tc := range []struct {
			name string
			req  func(host, secret string) *http.Request
		}{
			{"userinfo", func(host, s string) *http.Request {
				u := strings.Replace(plain.URL(host, "/events"), "://", "://user:"+s+"@", 1)
				r, _ := http.NewRequest(http.MethodGet, u, nil)
				return r
			}},
			{"Authorization", func(host, s string) *http.Request {
				r, _ := http.NewRequest(http.MethodGet, plain.URL(host, "/events"), nil)
				r.Header.Set("Authorization", "Bearer "+s)
				return r
			}},
			{"Cookie", func(host, s string) *http.Request {
				r, _ := http.NewRequest(http.MethodGet, plain.URL(host, "/events"), nil)
				r.Header.Set("Cookie", "s="+s)
				return r
			}},
			{"Proxy-Authorization", func(host, s string) *http.Request {
				r, _ := http.NewRequest(http.MethodGet, plain.URL(host, "/events"), nil)
				r.Header.Set("Proxy-Authorization", "Basic "+s)
				return r
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				secret := newCanary()
				plain.serve(serveOneEvent)
				c := &Client{HTTPClient: trustingHTTPClient(t), MaxRetries: 1}
				st, err := fc.open(c, tc.req("a.test", secret))
				if err == nil {
					st.Close()
				}
				require.Error(t, err)
				require.True(t, isPermanent(err), "not permanent: %v", err)
				assertNoSecret(t, err, secret)
				require.Empty(t, plain.requests(), "the credential went over plain http to a host that is not loopback")

				// Loopback is fine.
				st, err = fc.open(c, tc.req("127.0.0.1", secret))
				require.NoError(t, err)
				st.Close()
			})
		}
	})
}

func TestFinding5AuthSourceHeadersStayHomeWhateverTheirName(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		a, b := newTestOrigin(t, true), newTestOrigin(t, true)
		secret := newCanary()
		a.serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, b.URL("b.test", "/events"), http.StatusFound)
		})
		b.serve(serveOneEvent)
		c := &Client{
			HTTPClient: trustingHTTPClient(t),
			Auth: StaticHeaders(http.Header{
				"User-Agent":      {"app key=" + secret},
				"Accept-Language": {secret},
				"Content-Type":    {"ct" + secret},
			}),
		}
		req, err := http.NewRequest(http.MethodGet, a.URL("a.test", "/start"), nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "text/event-stream; k="+secret) // the caller's, whatever its name
		st, err := fc.open(c, req)
		require.NoError(t, err)
		st.Close()
		require.Contains(t, a.requests()[0].Header.Get("User-Agent"), secret)
		assertOtherUntouched(t, b, secret)
	})
}

func TestFinding6StarDotLocalhostIsNotLoopback(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		plain := newTestOrigin(t, false)
		plain.serve(serveOneEvent)
		hc := trustingHTTPClient(t)
		// This machine resolves evil.localhost to itself; another might send
		// the name to DNS.
		var d net.Dialer
		hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		}
		for _, host := range []string{"evil.localhost", "a.b.localhost", "localhost.evil.test"} {
			t.Run(host, func(t *testing.T) {
				secret := newCanary()
				c := &Client{HTTPClient: hc, Auth: StaticHeaders(http.Header{"X-Api-Key": {secret}}), MaxRetries: 1}
				st, err := connectVia(fc, c, context.Background(), plain.URL(host, "/events"))
				if err == nil {
					st.Close()
				}
				require.Error(t, err)
				require.True(t, isPermanent(err), "not permanent: %v", err)
				require.Empty(t, plain.requests())
			})
		}
		t.Run("localhost (control)", func(t *testing.T) {
			c := &Client{HTTPClient: hc, Auth: StaticHeaders(http.Header{"X-Api-Key": {"k"}})}
			openOne(t, fc, c, plain.URL("localhost", "/events"))
		})
	})
}

func TestFinding7RefreshAfterCrossOriginHop(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		a, b := newTestOrigin(t, true), newTestOrigin(t, true)
		toB := func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, b.URL("b.test", "/events"), http.StatusFound)
		}
		b.serve(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
		connect := func(t *testing.T, auth AuthSource) error {
			c := &Client{HTTPClient: trustingHTTPClient(t), Auth: auth, MaxRetries: 3,
				RetryDelay: time.Millisecond, MinRetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
			st, err := connectVia(fc, c, context.Background(), a.URL("a.test", "/start"))
			if err == nil {
				st.Close()
			}
			require.Error(t, err)
			require.True(t, isPermanent(err), "not permanent: %v", err)
			return err
		}
		t.Run("cookies: no relogin", func(t *testing.T) {
			a.serve(toB)
			jar, _ := cookiejar.New(nil)
			jar.SetCookies(&url.URL{Scheme: "https", Host: "a.test", Path: "/"}, []*http.Cookie{{Name: "s", Value: "v", Path: "/"}})
			var relogins atomic.Int32
			connect(t, SessionCookies(jar, func(context.Context) error { relogins.Add(1); return nil }))
			require.Zero(t, relogins.Load(), "relogin ran although the session cookie was never refused")
			require.Len(t, a.requests(), 1, "the stream was retried although no refresh can help")
		})
		t.Run("bearer: no refresh, a clear error", func(t *testing.T) {
			a.serve(toB)
			var calls atomic.Int32
			err := connect(t, Bearer(tokenFunc(func() (*oauth2.Token, error) {
				return &oauth2.Token{AccessToken: fmt.Sprint("tok", calls.Add(1))}, nil
			})))
			require.Contains(t, err.Error(), "another origin")
			require.Equal(t, int32(1), calls.Load())
			require.Len(t, a.requests(), 1, "the stream was retried although no refresh can help")
		})
		t.Run("bearer: a same-origin 401 to a request without Authorization refreshes", func(t *testing.T) {
			var calls atomic.Int32
			src := Bearer(tokenFunc(func() (*oauth2.Token, error) {
				return &oauth2.Token{AccessToken: fmt.Sprint("tok", calls.Add(1))}, nil
			}))
			_, err := authorizeRequest(t, src)
			require.NoError(t, err)
			require.NoError(t, src.Refresh(context.Background(), rejectedResponse("", "")))
			req, err := authorizeRequest(t, src)
			require.NoError(t, err)
			require.Equal(t, "Bearer tok2", req.Header.Get("Authorization"))
		})
	})
}

func TestFinding8CacheControl(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		o := newTestOrigin(t, false)
		for _, tc := range []struct {
			name   string
			auth   AuthSource
			set    string // the caller's Cache-Control
			query  string
			want   string
			header string
		}{
			{"caller's value kept without Auth", nil, "max-age=5", "", "max-age=5", ""},
			{"caller's value kept with Auth", StaticHeaders(http.Header{"X-Api-Key": {"k"}}), "max-age=5", "", "max-age=5", ""},
			{"caller's query credential gets no-store", nil, "", "?token=secret", "no-store", ""},
			{"AuthSource query credential gets no-store", QueryToken("", func(context.Context) (string, error) { return "q", nil }), "", "", "no-store", ""},
			{"nothing in the query: no-cache", StaticHeaders(http.Header{"X-Api-Key": {"k"}}), "", "", "no-cache", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				o.serve(serveOneEvent)
				req, err := http.NewRequest(http.MethodGet, o.URL("127.0.0.1", "/events"+tc.query), nil)
				require.NoError(t, err)
				if tc.set != "" {
					req.Header.Set("Cache-Control", tc.set)
				}
				st, err := fc.open(&Client{Auth: tc.auth}, req)
				require.NoError(t, err)
				st.Close()
				rs := o.requests()
				require.Len(t, rs, 1)
				require.Equal(t, tc.want, rs[0].Header.Get("Cache-Control"))
			})
		}
	})
}

// TestWireCheckRFC9110 is the lifecycle issue's rule, which the single wire
// check implements: a request that can never be sent (RFC 9110 field-name
// and field-value grammar, CTL-free query values) fails with a
// *PermanentError before any I/O, and Bearer neither sends nor caches such
// a token.
func TestWireCheckRFC9110(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		o := newTestOrigin(t, false)
		var calls atomic.Int32
		badBearer := Bearer(tokenFunc(func() (*oauth2.Token, error) {
			calls.Add(1)
			return &oauth2.Token{AccessToken: "tok\x01en"}, nil
		}))
		for _, tc := range []struct {
			name   string
			header http.Header
			auth   AuthSource
		}{
			{"caller header value \\x01", http.Header{"X-Key": {"a\x01b"}}, nil},
			{"caller header value \\x7f", http.Header{"X-Key": {"a\x7fb"}}, nil},
			{"caller header name with a space", http.Header{"X Key": {"v"}}, nil},
			{"caller header name empty", http.Header{"": {"v"}}, nil},
			{"Headers value \\x01", nil, StaticHeaders(http.Header{"X-Key": {"a\x01b"}})},
			{"Headers name with a colon", nil, StaticHeaders(http.Header{"X:Key": {"v"}})},
			{"raw header value \\x7f", nil, rawSource(func(r *http.Request) { r.Header["X-Raw"] = []string{"a\x7f"} })},
			{"raw header name with a space", nil, rawSource(func(r *http.Request) { r.Header["X Raw"] = []string{"a"} })},
			{"raw query value \\x01", nil, rawSource(func(r *http.Request) { r.URL.RawQuery = "token=a%01b" })},
			{"query token \\x1f", nil, QueryToken("", func(context.Context) (string, error) { return "a\x1fb", nil })},
			{"cookie \\x01", nil, SessionCookies(fixedJar{c: []*http.Cookie{{Name: "s", Value: "a\x01b"}}}, nil)},
			{"bearer token \\x01", nil, badBearer},
		} {
			t.Run(tc.name, func(t *testing.T) {
				o.serve(serveOneEvent)
				req, err := http.NewRequest(http.MethodGet, o.URL("127.0.0.1", "/events"), nil)
				require.NoError(t, err)
				for k, vs := range tc.header {
					req.Header[k] = vs
				}
				st, err := fc.open(&Client{Auth: tc.auth, MaxRetries: 2, RetryDelay: time.Millisecond, MinRetryDelay: time.Millisecond}, req)
				if err == nil {
					st.Close()
				}
				require.Error(t, err)
				require.True(t, isPermanent(err), "not permanent: %v", err)
				require.Empty(t, o.requests(), "the request was sent")
			})
		}
		// Bearer did not cache the token it refused: asked again, it asks
		// its source again.
		before := calls.Load()
		_, err := authorizeRequest(t, badBearer)
		require.Error(t, err)
		require.Equal(t, before+1, calls.Load())
	})
}

// serveToken answers with an access token.
func serveToken(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"access_token":"at1","token_type":"bearer","expires_in":3600}`)
}

// TestTokenEndpointCredentialsStayHome covers the token endpoint exactly
// as the stream and the ticket endpoint are covered: its client secret
// (in the Authorization header or in the form) does not follow a redirect
// to another origin. A 307 or 308 would re-send the form to the other
// origin: the policy refuses it.
func TestTokenEndpointCredentialsStayHome(t *testing.T) {
	a, b, plain := newTestOrigin(t, true), newTestOrigin(t, true), newTestOrigin(t, false)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		for _, sc := range redirectScenarios {
			for _, code := range []int{301, 302, 303, 307, 308} {
				t.Run(fmt.Sprintf("style%d/%s/%d", style, sc.name, code), func(t *testing.T) {
					secret := newCanary()
					other := sc.setup(a, b, plain, code, serveToken)
					cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "cs" + secret,
						TokenURL: a.URL(sc.aHost, "/token?k=uk"+secret), AuthStyle: style}
					_, err := authorizeRequest(t, Bearer(policyTokenSource(t, cfg, false)))
					require.NotEmpty(t, a.requests())
					if code == 307 || code == 308 {
						require.Error(t, err)
						require.Contains(t, err.Error(), "another origin")
						assertNoSecret(t, err, secret)
						require.Empty(t, other.requests(), "the token request's body went to another origin")
						return
					}
					assertOtherUntouched(t, other, secret)
				})
			}
		}
	}
}

func TestCredentialClientPlainHTTPOnlyToLoopback(t *testing.T) {
	plain := newTestOrigin(t, false)
	plain.serve(serveToken)
	for _, tc := range []struct {
		host     string
		insecure bool
		allowed  bool
	}{
		{"a.test", false, false},
		{"evil.localhost", false, false},
		{"a.test", true, true},
		{"127.0.0.1", false, true},
		{"localhost", false, true},
	} {
		t.Run(fmt.Sprintf("%s/insecure=%v", tc.host, tc.insecure), func(t *testing.T) {
			plain.serve(serveToken)
			secret := newCanary()
			cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: secret, TokenURL: plain.URL(tc.host, "/token")}
			hc := trustingHTTPClient(t)
			var d net.Dialer
			hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
			}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, CredentialClient(hc, tc.insecure))
			tok, err := cfg.Token(ctx)
			if tc.allowed {
				require.NoError(t, err)
				require.Equal(t, "at1", tok.AccessToken)
				require.Len(t, plain.requests(), 1)
				return
			}
			require.Error(t, err)
			require.True(t, isPermanent(err), "not permanent: %v", err)
			require.Contains(t, err.Error(), "plain http")
			assertNoSecret(t, err, secret)
			require.Empty(t, plain.requests())
			// Through Bearer, the refusal is permanent too.
			_, err = authorizeRequest(t, Bearer(tokenFunc(func() (*oauth2.Token, error) { return cfg.Token(ctx) })))
			require.True(t, isPermanent(err), "not permanent: %v", err)
			assertNoSecret(t, err, secret)
		})
	}
}

func TestTicketSourceAllowPlainHTTP(t *testing.T) {
	plain := newTestOrigin(t, false)
	plain.serve(serveTicket)
	src := &TicketSource{URL: plain.URL("a.test", "/ticket"), HTTPClient: trustingHTTPClient(t), AllowPlainHTTP: true,
		Auth: StaticHeaders(http.Header{"X-Api-Key": {"k"}})}
	req, err := authorizeRequest(t, src)
	require.NoError(t, err)
	require.Equal(t, "tk1", req.URL.Query().Get("ticket"))
	require.Equal(t, "k", plain.requests()[0].Header.Get("X-Api-Key"))
}

func TestCredentialClientJarOnlyAtHome(t *testing.T) {
	a, b := newTestOrigin(t, true), newTestOrigin(t, true)
	secret := newCanary()
	a.serve(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "set", Value: "fromA", Path: "/"})
		http.Redirect(w, r, b.URL("a.test", "/final"), http.StatusFound) // same host, another port
	})
	b.serve(serveTicket)
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(&url.URL{Scheme: "https", Host: "a.test", Path: "/"}, []*http.Cookie{{Name: "s", Value: secret, Path: "/"}})
	hc := trustingHTTPClient(t)
	hc.Jar = jar
	resp, err := CredentialClient(hc, false).Get(a.URL("a.test", "/start"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, a.requests()[0].Header.Get("Cookie"), secret)
	require.Empty(t, b.requests()[0].Header.Get("Cookie"), "the jar's cookies went to another port of the same host")
	var names []string
	for _, c := range jar.Cookies(&url.URL{Scheme: "https", Host: "a.test", Path: "/"}) {
		names = append(names, c.Name)
	}
	require.Contains(t, names, "set", "a cookie the home origin set was not stored")
	require.Nil(t, hc.CheckRedirect, "CredentialClient modified the caller's client")
}
