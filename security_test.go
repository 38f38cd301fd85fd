package sse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The security rules of DESIGN.md, each tested so that it can fail: every
// test uses a fresh random canary as the secret and looks for it where it
// must not be.

// credentialedClient is a Client whose every kind of credential carries
// secret: a bearer token, a fixed header, a query token, a cookie from the
// SessionCookies source and a cookie from the HTTP client's own Jar, both for each
// of hosts.
func credentialedClient(t *testing.T, secret string, hosts ...string) *Client {
	t.Helper()
	srcJar, _ := cookiejar.New(nil)
	httpJar, _ := cookiejar.New(nil)
	for _, h := range hosts {
		u := &url.URL{Scheme: "https", Host: h, Path: "/"}
		srcJar.SetCookies(u, []*http.Cookie{{Name: "src", Value: secret, Path: "/"}})
		httpJar.SetCookies(u, []*http.Cookie{{Name: "hj", Value: secret, Path: "/"}})
	}
	hc := trustingHTTPClient(t)
	hc.Jar = httpJar
	return &Client{
		HTTPClient: hc,
		Auth: Combine(
			Bearer(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "bt" + secret})),
			StaticHeaders(http.Header{"X-Api-Key": {"key" + secret}}),
			QueryToken("token", func(context.Context) (string, error) { return "qt" + secret, nil }),
			SessionCookies(srcJar, nil),
		),
		RetryDelay: 5 * time.Millisecond, MinRetryDelay: time.Millisecond, MaxRetryDelay: 50 * time.Millisecond,
		MaxRetries: 2,
	}
}

func TestSecurityRedirectsKeepCredentialsHome(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		a := newTestOrigin(t, true)      // the stream's origin, as a.test and as 127.0.0.1
		b := newTestOrigin(t, true)      // another origin: b.test, or 127.0.0.1 on another port
		plain := newTestOrigin(t, false) // plain http on the same host name a.test

		type scenario struct {
			name     string
			aHost    string      // how the client names a
			other    *testOrigin // must see no credential
			setup    func(code int)
			control  bool // the redirect stays home: credentials must arrive
			chainEnd bool // the chain ends back at a
		}
		redirect := func(code int, to string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/events" {
					serveOneEvent(w, r)
					return
				}
				http.Redirect(w, r, to, code)
			}
		}
		scenarios := []scenario{
			{name: "cross-host", aHost: "a.test", other: b, setup: func(code int) {
				a.serve(redirect(code, b.URL("b.test", "/events")))
				b.serve(serveOneEvent)
			}},
			{name: "cross-port", aHost: "127.0.0.1", other: b, setup: func(code int) {
				a.serve(redirect(code, b.URL("127.0.0.1", "/events")))
				b.serve(serveOneEvent)
			}},
			{name: "https-to-http-same-host", aHost: "a.test", other: plain, setup: func(code int) {
				a.serve(redirect(code, plain.URL("a.test", "/events")))
				plain.serve(serveOneEvent)
			}},
			{name: "chain-a-b-a", aHost: "a.test", other: b, chainEnd: true, setup: func(code int) {
				a.serve(redirect(code, b.URL("b.test", "/back")))
				b.serve(redirect(code, a.URL("a.test", "/events")))
			}},
			{name: "same-origin-control", aHost: "a.test", control: true, setup: func(code int) {
				a.serve(redirect(code, "/events"))
			}},
		}
		for _, sc := range scenarios {
			for _, code := range []int{301, 302, 303, 307, 308} {
				t.Run(fmt.Sprintf("%s/%d", sc.name, code), func(t *testing.T) {
					secret := newCanary()
					sc.setup(code)
					c := credentialedClient(t, secret, sc.aHost)
					openOne(t, fc, c, a.URL(sc.aHost, "/start?key="+"uk"+secret))

					ra := a.requests()
					require.NotEqual(t, 0, len(ra), "the stream's origin saw no request")
					first := ra[0]
					// Every credential reached the stream's own origin.
					for _, want := range []string{"Authorization", "X-Api-Key", "Cookie"} {
						assert.Contains(t, first.Header.Get(want), secret, "first request lacks its %s credential: %q", want, first.Header.Get(want))
					}
					cookies := first.Header.Get("Cookie")
					assert.Contains(t, cookies, "src=", "first request's cookies %q, want src= and hj=", cookies)
					assert.Contains(t, cookies, "hj=", "first request's cookies %q, want src= and hj=", cookies)
					assert.Contains(t, first.URL, "qt"+secret, "first request lacks the query token: %s", first.URL)
					if sc.control {
						require.Len(t, ra, 2, "control: a saw %d requests, want 2", len(ra))
						second := ra[1]
						for _, want := range []string{"Authorization", "X-Api-Key", "Cookie"} {
							assert.Contains(t, second.Header.Get(want), secret, "same-origin redirect dropped %s: %q", want, second.Header.Get(want))
						}
						return
					}
					rb := sc.other.requests()
					require.NotEqual(t, 0, len(rb), "the other origin saw no request: the redirect did not happen")
					for _, s := range rb {
						where := secretIn(s, secret)
						assert.Equal(t, "", where, "credential reached the other origin (%s%s): %s", s.Host, s.URL, where)
						for _, h := range []string{"Authorization", "Cookie", "X-Api-Key"} {
							v := s.Header.Get(h)
							assert.Equal(t, "", v, "other origin got %s: %q", h, v)
						}
						ref := s.Header.Get("Referer")
						assert.NotContains(t, ref, "?", "other origin got a Referer with the query: %q", ref)
					}
					if sc.chainEnd {
						require.GreaterOrEqual(t, len(ra), 2, "chain did not come back to a: %d requests", len(ra))
					}
				})
			}
		}
	})
}

// TestSecurityRedirectLocationWithCredentialQuery: a server that copies the
// request's query into a cross-origin Location must not make the client
// carry the credential parameters the source added.
func TestSecurityRedirectLocationWithCredentialQuery(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		a := newTestOrigin(t, true)
		b := newTestOrigin(t, true)
		secret := newCanary()
		a.serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, b.URL("b.test", "/events?"+r.URL.RawQuery), http.StatusFound)
		})
		b.serve(serveOneEvent)
		openOne(t, fc, credentialedClient(t, secret, "a.test"), a.URL("a.test", "/start"))
		for _, s := range b.requests() {
			where := secretIn(s, secret)
			assert.Equal(t, "", where, "a credential query parameter the AuthSource added crossed to another origin "+
				"because the Location repeated it (%s)", where)
		}
	})
}

func TestSecurityPlainHTTPOnlyToLoopback(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		plain := newTestOrigin(t, false)
		plain.serve(serveOneEvent)
		for _, tc := range []struct {
			name     string
			host     string
			insecure bool
			auth     bool // an AuthSource (else only a cookie Jar)
			allowed  bool
		}{
			{"auth to a.test", "a.test", false, true, false},
			{"jar to a.test", "a.test", false, false, false},
			{"auth to a.test with AllowPlainHTTP", "a.test", true, true, true},
			{"auth to 127.0.0.1", "127.0.0.1", false, true, true},
			{"auth to localhost", "localhost", false, true, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				secret := newCanary()
				plain.serve(serveOneEvent)
				c := &Client{HTTPClient: trustingHTTPClient(t), AllowPlainHTTP: tc.insecure, MaxRetries: 1}
				if tc.auth {
					c.Auth = StaticHeaders(http.Header{"X-Api-Key": {secret}})
				} else {
					jar, _ := cookiejar.New(nil)
					jar.SetCookies(&url.URL{Scheme: "http", Host: tc.host, Path: "/"}, []*http.Cookie{{Name: "s", Value: secret}})
					c.HTTPClient.Jar = jar
				}
				st, err := connectVia(fc, c, context.Background(), plain.URL(tc.host, "/events?k="+secret))
				if tc.allowed {
					require.NoError(t, err, "Connect: %v", err)
					st.Close()
					n := len(plain.requests())
					require.Equal(t, 1, n, "server saw %d requests %+v, want one with the key", n, plain.requests())
					require.Equal(t, secret, plain.requests()[0].Header.Get("X-Api-Key"), "server saw %d requests %+v, want one with the key", n, plain.requests())
					return
				}
				if err == nil {
					st.Close()
					require.Fail(t, "Connect over plain http to a non-loopback host succeeded")
				}
				assert.True(t, isPermanent(err), "error is not permanent: %v", err)
				assertNoSecret(t, err, secret)
				n := len(plain.requests())
				require.Equal(t, 0, n, "server saw %d requests; want none (refused before any I/O)", n)
			})
		}
	})
}

// echoHandler answers code with a body (and headers) echoing the whole request,
// as careless servers do.
func echoHandler(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
		for k, vs := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Echo", r.URL.RawQuery)
		w.WriteHeader(code)
		fmt.Fprint(w, b.String())
	}
}

func TestSecurityNoSecretInErrorsOrLogs(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		type path struct {
			name string
			// run builds the case around secret and returns the client, the
			// URL and the context to connect with.
			run func(t *testing.T, secret string) (*Client, string, context.Context)
			// wantErr checks the error's kind.
			wantErr func(error) bool
		}
		permanent := func(err error) bool { return isPermanent(err) }
		retryable := func(err error) bool { return err != nil && !isPermanent(err) }
		// transport: the error tells what went wrong, not a bare cancellation.
		transport := func(err error) bool { return err != nil && !errors.Is(err, context.Canceled) }
		status := func(code int) func(error) bool {
			return func(err error) bool {
				var st *StatusError
				return errors.As(err, &st) && st.Code == code
			}
		}
		// base is a Client whose bearer token, API key, query token (in a
		// form that needs escaping), cookie and URL query all hold secret.
		base := func(t *testing.T, secret string) *Client {
			jar, _ := cookiejar.New(nil)
			for _, h := range []string{"a.test", "127.0.0.1"} {
				jar.SetCookies(&url.URL{Scheme: "https", Host: h, Path: "/"}, []*http.Cookie{{Name: "s", Value: "ck" + secret, Path: "/"}})
			}
			return &Client{
				HTTPClient: trustingHTTPClient(t),
				Auth: Combine(
					Bearer(tokenFunc(func() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: "bt" + secret}, nil })),
					StaticHeaders(http.Header{"X-Api-Key": {"key" + secret}}),
					QueryToken("token", func(context.Context) (string, error) { return "a/b+qt" + secret + "==", nil }),
					SessionCookies(jar, nil),
				),
				RetryDelay: 5 * time.Millisecond, MinRetryDelay: time.Millisecond, MaxRetryDelay: 50 * time.Millisecond,
				MaxRetries: 2,
			}
		}
		server := func(t *testing.T, useTLS bool, h http.HandlerFunc) *testOrigin {
			o := newTestOrigin(t, useTLS)
			o.serve(h)
			return o
		}
		bg := context.Background()
		block := func(arrived chan<- struct{}) http.HandlerFunc {
			var once sync.Once
			return func(w http.ResponseWriter, r *http.Request) {
				if arrived != nil {
					once.Do(func() { close(arrived) })
				}
				<-r.Context().Done()
			}
		}
		paths := []path{
			{"dial refused", func(t *testing.T, s string) (*Client, string, context.Context) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				addr := ln.Addr().String()
				ln.Close()
				return base(t, s), "http://" + addr + "/events?key=uk" + s, bg
			}, func(err error) bool { return retryable(err) && transport(err) }},
			{"response-header timeout (transport)", func(t *testing.T, s string) (*Client, string, context.Context) {
				o := server(t, false, block(nil))
				c := base(t, s)
				c.HTTPClient.Transport.(*http.Transport).ResponseHeaderTimeout = 50 * time.Millisecond
				return c, o.URL("127.0.0.1", "/events?key=uk"+s), bg
			}, func(err error) bool { return retryable(err) && transport(err) }},
			{"response-header timeout (HTTPClient.Timeout)", func(t *testing.T, s string) (*Client, string, context.Context) {
				o := server(t, false, block(nil))
				c := base(t, s)
				c.HTTPClient.Timeout = 50 * time.Millisecond
				return c, o.URL("127.0.0.1", "/events?key=uk"+s), bg
			}, retryable},
			{"cancellation", func(t *testing.T, s string) (*Client, string, context.Context) {
				arrived := make(chan struct{})
				o := server(t, false, block(arrived))
				ctx, cancel := context.WithCancel(bg)
				go func() { <-arrived; cancel() }()
				t.Cleanup(cancel)
				return base(t, s), o.URL("127.0.0.1", "/events?key=uk"+s), ctx
			}, func(err error) bool { return errors.Is(err, context.Canceled) }},
			{"deadline", func(t *testing.T, s string) (*Client, string, context.Context) {
				o := server(t, false, block(nil))
				ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
				t.Cleanup(cancel)
				return base(t, s), o.URL("127.0.0.1", "/events?key=uk"+s), ctx
			}, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
			{"TLS unknown authority", func(t *testing.T, s string) (*Client, string, context.Context) {
				o := server(t, true, serveOneEvent)
				c := base(t, s)
				tr := &http.Transport{}
				t.Cleanup(tr.CloseIdleConnections)
				c.HTTPClient = &http.Client{Transport: tr}
				return c, o.URL("127.0.0.1", "/events?key=uk"+s), bg
			}, func(err error) bool { return permanent(err) && transport(err) }},
			{"400 echo", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, echoHandler(400)).URL("a.test", "/events?key=uk"+s), bg
			}, status(400)},
			{"401 twice echo", func(t *testing.T, s string) (*Client, string, context.Context) {
				c := base(t, s)
				c.Auth = Combine(StaticHeaders(http.Header{"X-Api-Key": {"key" + s}}), QueryToken("token", func(context.Context) (string, error) { return "qt" + s, nil }))
				return c, server(t, true, echoHandler(401)).URL("a.test", "/events?key=uk"+s), bg
			}, func(err error) bool { return permanent(err) && status(401)(err) }},
			{"401 bearer refused, same token back", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, echoHandler(401)).URL("a.test", "/events?key=uk"+s), bg
			}, permanent},
			{"403 echo", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, echoHandler(403)).URL("a.test", "/events?key=uk"+s), bg
			}, status(403)},
			{"404 echo", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, echoHandler(404)).URL("a.test", "/events?key=uk"+s), bg
			}, status(404)},
			{"500 echo", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, echoHandler(500)).URL("a.test", "/events?key=uk"+s), bg
			}, status(500)},
			{"503 echo with Retry-After", func(t *testing.T, s string) (*Client, string, context.Context) {
				h := echoHandler(503)
				return base(t, s), server(t, true, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "0")
					h(w, r)
				}).URL("a.test", "/events?key=uk"+s), bg
			}, status(503)},
			{"wrong Content-Type", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, echoHandler(200)).URL("a.test", "/events?key=uk"+s), bg
			}, permanent},
			{"bad Location echoing the query", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Location", "http://bad host:x/?"+r.URL.RawQuery)
					w.WriteHeader(http.StatusFound)
				}).URL("a.test", "/events?key=uk"+s), bg
			}, transport},
			{"redirect loop echoing the query", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/events?"+r.URL.RawQuery, http.StatusFound)
				}).URL("a.test", "/events?key=uk"+s), bg
			}, transport},
			{"unparsable URL (bad escape)", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), "https://a.test/ev%zz?token=" + s, bg
			}, permanent},
			{"unparsable URL (space in host)", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), "https://a " + s + ".test/events?token=" + s, bg
			}, permanent},
			{"unparsable URL (control character)", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), "https://a.test/events?token=" + s + "\n", bg
			}, permanent},
			{"unparsable URL (bad port)", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), "https://a.test:" + s + "/events?token=" + s, bg
			}, permanent},
			{"token endpoint 401 echoing the request", func(t *testing.T, s string) (*Client, string, context.Context) {
				events := server(t, true, serveOneEvent)
				tokens := server(t, false, func(w http.ResponseWriter, r *http.Request) {
					r.ParseForm()
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s","form":%q}`, r.PostForm.Get("client_secret"), r.PostForm.Encode())
				})
				cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: s, TokenURL: tokens.URL("127.0.0.1", "/token?k="+s), AuthStyle: oauth2.AuthStyleInParams}
				c := base(t, s)
				c.Auth = Bearer(freshTokenSource(cfg))
				return c, events.URL("a.test", "/events?key=uk"+s), bg
			}, permanent},
			{"token endpoint 500 echoing the request", func(t *testing.T, s string) (*Client, string, context.Context) {
				events := server(t, true, serveOneEvent)
				tokens := server(t, false, func(w http.ResponseWriter, r *http.Request) {
					r.ParseForm()
					w.WriteHeader(http.StatusInternalServerError)
					fmt.Fprintf(w, "boom: %s %s", r.PostForm.Encode(), r.Header.Get("Authorization"))
				})
				cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: s, TokenURL: tokens.URL("127.0.0.1", "/token")}
				c := base(t, s)
				c.Auth = Bearer(freshTokenSource(cfg))
				return c, events.URL("a.test", "/events?key=uk"+s), bg
			}, retryable},
			{"ticket endpoint 500 echoing the request", func(t *testing.T, s string) (*Client, string, context.Context) {
				events := server(t, true, serveOneEvent)
				tickets := server(t, true, echoHandler(500))
				c := base(t, s)
				c.Auth = &TicketSource{URL: tickets.URL("b.test", "/ticket?k="+s), HTTPClient: c.HTTPClient, Auth: StaticHeaders(http.Header{"X-Api-Key": {"key" + s}})}
				return c, events.URL("a.test", "/events?key=uk"+s), bg
			}, retryable},
			{"ticket endpoint 401 echoing the request", func(t *testing.T, s string) (*Client, string, context.Context) {
				events := server(t, true, serveOneEvent)
				tickets := server(t, true, echoHandler(401))
				c := base(t, s)
				c.Auth = &TicketSource{URL: tickets.URL("b.test", "/ticket?k="+s), HTTPClient: c.HTTPClient, Auth: StaticHeaders(http.Header{"X-Api-Key": {"key" + s}})}
				return c, events.URL("a.test", "/events?key=uk"+s), bg
			}, permanent},
			{"bad relative Location echoing the escaped query", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, badLocationHandler("/e%zz?")).URL("a.test", "/events?key=uk"+s), bg
			}, transport},
			{"bad Location echoing the query into the path", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, badLocationHandler("/%zz/")).URL("a.test", "/events?key=uk"+s), bg
			}, transport},
			{"bad Location with user info", func(t *testing.T, s string) (*Client, string, context.Context) {
				return base(t, s), server(t, true, badLocationHandler("https://user:lp"+s+"@bad host/?")).URL("a.test", "/events?key=uk"+s), bg
			}, transport},
		}
		// The ticket endpoint's failure paths: its URL holds the secret in
		// the query (plain and escaped) and in the user info, its Auth in a
		// header and a cookie.
		ticketPath := func(name string, h http.HandlerFunc, useTLS bool, host string, want func(error) bool) path {
			return path{"ticket endpoint: " + name, func(t *testing.T, s string) (*Client, string, context.Context) {
				events := server(t, true, serveOneEvent)
				u := "http://127.0.0.1:1/ticket"
				if h != nil {
					u = server(t, useTLS, h).URL(host, "/ticket")
				}
				u = strings.Replace(u, "://", "://user:tp"+s+"@", 1) + "?k=" + s + "&e=" + url.QueryEscape("a/b+"+s+"==")
				c := base(t, s)
				jar, _ := cookiejar.New(nil)
				jar.SetCookies(&url.URL{Scheme: "https", Host: host, Path: "/"}, []*http.Cookie{{Name: "t", Value: "tc" + s, Path: "/"}})
				hc := trustingHTTPClient(t)
				hc.Jar = jar
				c.Auth = &TicketSource{URL: u, HTTPClient: hc, Auth: StaticHeaders(http.Header{"X-Api-Key": {"key" + s}})}
				return c, events.URL("a.test", "/events?key=uk"+s), bg
			}, want}
		}
		// The token endpoint's failure paths, through the policy's client as
		// ssecat uses it: the client secret in the header or the form, the
		// token URL's query holding the secret.
		tokenPath := func(name string, h http.HandlerFunc, useTLS bool, host string, style oauth2.AuthStyle, want func(error) bool) path {
			return path{fmt.Sprintf("token endpoint (style %d): %s", style, name), func(t *testing.T, s string) (*Client, string, context.Context) {
				events := server(t, true, serveOneEvent)
				u := "http://127.0.0.1:1/token"
				if h != nil {
					u = server(t, useTLS, h).URL(host, "/token")
				}
				cfg := &clientcredentials.Config{ClientID: "id", ClientSecret: "cs" + s, TokenURL: u + "?k=" + s + "&e=" + url.QueryEscape("a/b+"+s+"=="), AuthStyle: style}
				c := base(t, s)
				c.Auth = Bearer(policyTokenSource(t, cfg, false))
				return c, events.URL("a.test", "/events?key=uk"+s), bg
			}, want}
		}
		redirectTo := func(code int, to string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to+"?"+r.URL.RawQuery, code) }
		}
		loop := func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path+"?"+r.URL.RawQuery, http.StatusFound)
		}
		notJSON := func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%s %v", r.URL.RawQuery, r.Header) }
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			paths = append(paths,
				tokenPath("dial refused", nil, false, "127.0.0.1", style, retryable),
				tokenPath("bad Location echoing the query", badLocationHandler("/t%zz?"), true, "a.test", style, retryable),
				tokenPath("redirect loop echoing the query", loop, true, "a.test", style, retryable),
				tokenPath("307 to another origin", redirectTo(307, "https://b.test:1/token"), true, "a.test", style, permanent),
				tokenPath("plain http to a host that is not loopback", echoHandler(200), false, "a.test", style, permanent),
				tokenPath("400 echoing the request", echoHandler(400), true, "a.test", style, permanent),
			)
		}
		paths = append(paths,
			ticketPath("dial refused", nil, false, "127.0.0.1", retryable),
			ticketPath("bad Location echoing the query", badLocationHandler("/t%zz?"), true, "a.test", retryable),
			ticketPath("redirect loop echoing the query", loop, true, "a.test", retryable),
			ticketPath("plain http to a host that is not loopback", echoHandler(200), false, "a.test", permanent),
			ticketPath("answer is not JSON, echoes the request", notJSON, true, "a.test", retryable),
			ticketPath("403 echoing the request", echoHandler(403), true, "a.test", permanent),
		)
		for _, p := range paths {
			t.Run(p.name, func(t *testing.T) {
				secret := newCanary()
				c, u, ctx := p.run(t, secret)
				logs := &logBuffer{}
				c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.Level(-100)}))
				var attempts attemptLog
				c.OnAttempt = attempts.add
				if pu, perr := url.Parse(u); perr == nil && pu.Host != "" {
					// The stream URL's user info holds the secret too.
					pu.User = url.UserPassword("user", "up"+secret)
					u = pu.String()
				}
				var (
					st  streamLike
					err error
				)
				func() {
					defer func() {
						if v := recover(); v != nil {
							require.NotContains(t, fmt.Sprint(v), secret, "secret in a panic value")
							require.Fail(t, fmt.Sprintf("panic: %v", v))
						}
					}()
					st, err = connectVia(fc, c, ctx, u)
				}()
				if err == nil {
					st.Close()
					require.Fail(t, "Connect succeeded")
				}
				assert.True(t, p.wantErr(err), "unexpected error kind: %v", err)
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					assert.True(t, strings.HasPrefix(err.Error(), "sse: "), "error lacks the sse: prefix: %v", err)
				}
				assertNoSecret(t, err, secret)
				// Redacted URLs keep scheme, host, path and parameter names.
				var se *StatusError
				if errors.As(err, &se) {
					assert.True(t, strings.HasPrefix(se.URL, "https://a.test:"), "StatusError.URL %q lacks scheme, host, path or parameter name", se.URL)
					assert.Contains(t, se.URL, "/events?", "StatusError.URL %q lacks scheme, host, path or parameter name", se.URL)
					assert.Contains(t, se.URL, "key=REDACTED", "StatusError.URL %q lacks scheme, host, path or parameter name", se.URL)
				}
				attempts.mu.Lock()
				for _, a := range attempts.all {
					assert.NotContains(t, a.URL, secret, "secret in Attempt.URL: %s", a.URL)
					assertNoSecret(t, a.Err, secret)
				}
				attempts.mu.Unlock()
				text := logs.String()
				assert.NotContains(t, text, secret, "secret in the log:\n%s", text)
				assert.NotContains(t, text, url.QueryEscape(secret), "secret in the log:\n%s", text)
				t.Logf("error: %v (%d log records)", err, logs.records())
			})
		}
	})
}

// badLocationHandler answers 302 with a Location net/http cannot parse: prefix
// followed by the request's query, as careless servers echo it.
func badLocationHandler(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Location"] = []string{prefix + r.URL.RawQuery}
		w.WriteHeader(http.StatusFound)
	}
}

func TestSecurityControlCharactersNeverSent(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		events := newTestOrigin(t, false)
		tickets := newTestOrigin(t, false)
		for _, tc := range []struct {
			name   string
			client func(secret string) *Client
		}{
			{"query token CRLF", func(s string) *Client {
				return &Client{Auth: QueryToken("", func(context.Context) (string, error) { return s + "\r\nX-Evil: 1", nil })}
			}},
			{"query token NUL", func(s string) *Client {
				return &Client{Auth: QueryToken("", func(context.Context) (string, error) { return s + "\x00", nil })}
			}},
			{"bearer token LF", func(s string) *Client {
				return &Client{Auth: Bearer(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: s + "\nX-Evil: 1"}))}
			}},
			{"fixed header CR", func(s string) *Client {
				return &Client{Auth: StaticHeaders(http.Header{"X-Api-Key": {s + "\rX"}})}
			}},
			{"ticket CRLF", func(s string) *Client {
				tickets.serve(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, `{"ticket":"%s\r\nX-Evil: 1"}`, s)
				})
				return &Client{Auth: &TicketSource{URL: tickets.URL("127.0.0.1", "/ticket")}}
			}},
			{"raw header LF (client check)", func(s string) *Client {
				return &Client{Auth: rawSource(func(r *http.Request) { r.Header["X-Raw"] = []string{s + "\nX-Evil: 1"} })}
			}},
			{"raw query NUL (client check)", func(s string) *Client {
				return &Client{Auth: rawSource(func(r *http.Request) { r.URL.RawQuery = "token=" + s + "%00" })}
			}},
			{"raw query CRLF (client check)", func(s string) *Client {
				return &Client{Auth: rawSource(func(r *http.Request) { r.URL.RawQuery = "token=" + s + "%0D%0AX" })}
			}},
			{"Last-Event-ID LF", func(s string) *Client {
				return &Client{LastEventID: s + "\nX-Evil: 1"}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				secret := newCanary()
				events.serve(serveOneEvent)
				c := tc.client(secret)
				c.MaxRetries = 1
				st, err := connectVia(fc, c, context.Background(), events.URL("127.0.0.1", "/events"))
				if err == nil {
					st.Close()
					require.Fail(t, "Connect succeeded")
				}
				if !strings.Contains(tc.name, "Last-Event-ID") {
					assert.True(t, isPermanent(err), "not permanent: %v", err)
				}
				assertNoSecret(t, err, secret)
				n := len(events.requests())
				require.Equal(t, 0, n, "the stream request was sent (%d requests): %+v", n, events.requests())
			})
		}
	})
}

func TestSecurityQueryCredentialNoStore(t *testing.T) {
	forFaces(t, func(t *testing.T, fc face) {
		events := newTestOrigin(t, false)
		tickets := newTestOrigin(t, false)
		var n atomic.Int32
		tickets.serve(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, `{"ticket":"t%d"}`, n.Add(1)) })
		for _, tc := range []struct {
			name string
			auth AuthSource
			want string
		}{
			{"query token", QueryToken("", func(context.Context) (string, error) { return newCanary(), nil }), "no-store"},
			{"ticket", &TicketSource{URL: tickets.URL("127.0.0.1", "/ticket")}, "no-store"},
			{"combined", Combine(StaticHeaders(http.Header{"X-Api-Key": {"k"}}), QueryToken("", func(context.Context) (string, error) { return "q", nil })), "no-store"},
			{"header only (control)", StaticHeaders(http.Header{"X-Api-Key": {newCanary()}}), "no-cache"},
			{"no auth (control)", nil, "no-cache"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				events.serve(serveOneEvent)
				openOne(t, fc, &Client{Auth: tc.auth}, events.URL("127.0.0.1", "/events"))
				rs := events.requests()
				require.Len(t, rs, 1, "%d requests", len(rs))
				got := rs[0].Header.Get("Cache-Control")
				require.Equal(t, tc.want, got, "Cache-Control %q, want %q", got, tc.want)
			})
		}
	})
}
