package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The credential policy of issue 12 as ssecat sees it: every request
// ssecat sends (stream, token endpoint, ticket endpoint) is under it.

// seenRequest is one request a credServer received.
type seenRequest struct {
	host, uri string
	header    http.Header
	body      string
}

// credServer records every request and answers with handler.
type credServer struct {
	*httptest.Server
	mu      sync.Mutex
	seen    []seenRequest
	handler http.HandlerFunc
}

func newCredServer(t *testing.T, h http.HandlerFunc) *credServer {
	t.Helper()
	s := &credServer{handler: h}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{host: r.Host, uri: r.URL.RequestURI(), header: r.Header.Clone(), body: string(b)})
		h := s.handler
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *credServer) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

func (s *credServer) port() string {
	_, p, _ := net.SplitHostPort(s.Listener.Addr().String())
	return p
}

// credEndpoints answers /token with a token, /ticket with a ticket and
// /events with 204, the clean end of a stream.
func credEndpoints(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at1","token_type":"bearer","expires_in":3600}`)
	case "/ticket":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ticket":"tk1"}`)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// anyCredential reports where a canary, or the Basic form of the client
// secret, appears in a request.
func anyCredential(s seenRequest) string {
	basic := base64.StdEncoding.EncodeToString([]byte("cli:" + canaries[1]))
	var where []string
	for _, c := range append(canaries, basic) {
		if strings.Contains(s.uri, c) || strings.Contains(s.body, c) {
			where = append(where, "URI or body")
		}
		for k, vs := range s.header {
			if strings.Contains(strings.Join(vs, ","), c) {
				where = append(where, k)
			}
		}
	}
	for _, h := range []string{"Authorization", "Cookie", "X-Api-Key"} {
		if s.header.Get(h) != "" {
			where = append(where, h)
		}
	}
	return strings.Join(where, ", ")
}

// TestFinding3SsecatPlainHTTPCredentialFlags: -token-url and -ticket-url
// with plain http to a host that is not loopback are refused before any
// I/O unless -allow-plain-http. 0.0.0.0 is not a loopback address, yet
// reaches the test server on this machine.
func TestFinding3SsecatPlainHTTPCredentialFlags(t *testing.T) {
	t.Parallel()
	srv := newCredServer(t, credEndpoints)
	remote := "http://0.0.0.0:" + srv.port()
	stream := srv.URL + "/events"
	secret := []string{"SSE_CLIENT_SECRET=" + canaries[1]}
	token := []string{"SSE_TOKEN=" + canaries[0]}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"token-url", secret, []string{"-token-url", remote + "/token", "-client-id", "cli", stream}},
		{"ticket-url with a bearer token", token, []string{"-ticket-url", remote + "/ticket", stream}},
		{"ticket-url with client credentials", secret, []string{"-token-url", srv.URL + "/token", "-client-id", "cli", "-ticket-url", remote + "/ticket", stream}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.requests())
			r := ssecat(t, tc.env, tc.args...)
			wantCode(t, r, 1)
			oneErrorLine(t, r.stderr, `plain http`)
			for _, s := range srv.requests()[before:] {
				assert.NotEqual(t, "0.0.0.0:"+srv.port(), s.host, "a request went over plain http to a host that is not loopback: %s", s.uri)
			}

			r = ssecat(t, tc.env, append([]string{"-allow-plain-http"}, tc.args...)...)
			wantCode(t, r, 0)
		})
	}
}

// TestSsecatEndpointRedirectsKeepCredentialsHome: the token and ticket
// endpoints' credentials do not follow a redirect to another origin
// (another port, another host, a→b→a), whatever the status.
func TestSsecatEndpointRedirectsKeepCredentialsHome(t *testing.T) {
	t.Parallel()
	other := newCredServer(t, credEndpoints)
	for _, tc := range []struct {
		name string
		to   func(home, path string) string
	}{
		{"cross-port", func(_, path string) string { return other.URL + path }},
		{"cross-host", func(_, path string) string { return "http://localhost:" + other.port() + path }},
		{"chain-a-b-a", func(home, path string) string {
			return other.URL + "/back?to=" + home + "/final" + path
		}},
	} {
		for _, code := range []int{301, 302, 303, 307, 308} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, code), func(t *testing.T) {
				home := newCredServer(t, func(w http.ResponseWriter, r *http.Request) {
					if strings.HasPrefix(r.URL.Path, "/final") || r.URL.Path == "/events" {
						r.URL.Path = strings.TrimPrefix(r.URL.Path, "/final")
						credEndpoints(w, r)
						return
					}
					http.Redirect(w, r, tc.to("http://"+r.Host, r.URL.Path), code)
				})
				other.mu.Lock()
				other.seen = nil
				other.handler = func(w http.ResponseWriter, r *http.Request) {
					if to := r.URL.Query().Get("to"); to != "" {
						http.Redirect(w, r, to, code)
						return
					}
					credEndpoints(w, r)
				}
				other.mu.Unlock()

				env := []string{"SSE_CLIENT_SECRET=" + canaries[1]}
				_ = ssecat(t, env, "-token-url", home.URL+"/token", "-client-id", "cli", "-max-retries", "1", home.URL+"/events")
				_ = ssecat(t, []string{"SSE_TOKEN=" + canaries[0]}, "-ticket-url", home.URL+"/ticket", "-H", "X-Api-Key: "+canaries[3], "-max-retries", "1", home.URL+"/events")
				seen := other.requests()
				require.NotEmpty(t, seen, "the other origin saw no request: the redirect did not happen")
				for _, s := range seen {
					require.Empty(t, anyCredential(s), "a credential reached the other origin: %s%s", s.host, s.uri)
				}
			})
		}
	}
}

// TestSsecatCanaryEveryCredentialFlag runs ssecat with each credential
// flag against failure paths whose answers echo the request (status,
// body, Location with the query): no canary may reach stdout or stderr.
func TestSsecatCanaryEveryCredentialFlag(t *testing.T) {
	t.Parallel()
	echo := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Echo", r.URL.RawQuery)
			w.WriteHeader(code)
			fmt.Fprintf(w, "%s %s %v", r.Method, r.URL.RequestURI(), r.Header)
		}
	}
	badLocation := func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Location"] = []string{"/x%zz?" + r.URL.RawQuery + "&h=" + r.Header.Get("Authorization")}
		w.WriteHeader(http.StatusFound)
	}
	cookieFile := writeCookieFile(t, canaries[2])
	paths := map[string]http.HandlerFunc{
		"401 echo": echo(401), "403 echo": echo(403), "500 echo": echo(500), "bad Location": badLocation,
	}
	for pname, h := range paths {
		t.Run(pname, func(t *testing.T) {
			t.Parallel()
			srv := newCredServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/token" || r.URL.Path == "/ticket" {
					h(w, r)
					return
				}
				if r.URL.Path == "/events" {
					h(w, r)
					return
				}
				credEndpoints(w, r)
			})
			q := "?k=" + canaries[3] + "&e=" + strings.ReplaceAll("a/b+"+canaries[3]+"==", "+", "%2B")
			for _, run := range []struct {
				env  []string
				args []string
			}{
				{nil, []string{"-token", canaries[0], srv.URL + "/events" + q}},
				{[]string{"SSE_TOKEN=" + canaries[0]}, []string{srv.URL + "/events" + q}},
				{[]string{"SSE_CLIENT_SECRET=" + canaries[1]}, []string{"-token-url", srv.URL + "/token" + q, "-client-id", "cli", srv.URL + "/events" + q}},
				{nil, []string{"-cookies", cookieFile, srv.URL + "/events" + q}},
				{[]string{"SSE_TOKEN=" + canaries[0]}, []string{"-ticket-url", srv.URL + "/ticket" + q, srv.URL + "/events" + q}},
				{nil, []string{"-H", "X-Api-Key: " + canaries[3], "-H", "Authorization: Bearer " + canaries[0], srv.URL + "/events" + q}},
				{nil, []string{strings.Replace(srv.URL, "://", "://user:"+canaries[1]+"@", 1) + "/events" + q}},
			} {
				r := ssecat(t, run.env, append([]string{"-max-retries", "2"}, run.args...)...)
				require.NotEqual(t, 0, r.code, "stderr: %s", r.stderr)
			}
		})
	}
}
