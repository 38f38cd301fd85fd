package sse

// This file holds the credential policy that governs every request the SDK
// sends on the caller's behalf: the stream's, the ticket endpoint's and
// (through CredentialClient) the token endpoint's. It decides which origin
// credentials may reach (the redirect rule), where plain http is allowed
// (the plain-http rule), and turns transport errors into ones that carry no
// secret.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// httpClient makes the private copy of the base client that r uses.
func (s *settings) httpClient(r *runner) *http.Client {
	hc := *s.base
	r.headerTimeout = hc.Timeout
	hc.Timeout = 0
	hc.CheckRedirect = policyCheckRedirect(hc.CheckRedirect)
	if hc.Jar != nil {
		hc.Jar = &originJar{jar: hc.Jar, origin: origin(r.tmpl.url)}
	}
	return &hc
}

// CredentialClient returns a copy of hc (nil: a client with a 30s timeout)
// that sends requests under the SDK's credential policy, for requests that
// carry credentials but that the SDK does not build itself, such as an
// OAuth2 token request: pass it to golang.org/x/oauth2 under the
// oauth2.HTTPClient context key. TicketSource uses it for its own
// requests.
//
// The policy: a redirect to another origin (scheme, host or port) carries
// no header, no cookie, no user info, no query value of the first request
// and no Referer, and a redirect that would re-send a request body to
// another origin fails; a request to the first request's origin goes over
// plain http only when that host is "localhost" or a loopback IP literal,
// unless allowPlainHTTP is set. Cookies of hc.Jar go only to the first
// request's origin. The caller's CheckRedirect, if any, runs after the
// policy's. hc is not modified.
func CredentialClient(hc *http.Client, allowPlainHTTP bool) *http.Client {
	c := http.Client{Timeout: 30 * time.Second}
	if hc != nil {
		c = *hc
	}
	c.CheckRedirect = policyCheckRedirect(c.CheckRedirect)
	c.Transport = &policyTransport{base: c.Transport, jar: c.Jar, allowPlainHTTP: allowPlainHTTP}
	c.Jar = nil
	return &c
}

// policyCheckRedirect returns a CheckRedirect that applies the redirect
// rule, then user's, if any.
func policyCheckRedirect(user func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req, via); err != nil {
			return err
		}
		if user != nil {
			return user(req, via)
		}
		return nil
	}
}

// sentKey is the context key under which a request the SDK builds records
// what the SDK itself put in it.
type sentKey struct{}

// sent records, for one request the SDK builds, the header values the SDK
// set itself. Everything else in the request was added by the caller, an
// AuthSource, a cookie jar or the URL's user info, and is a credential
// whatever its name.
type sent struct {
	own http.Header
}

// withSent returns ctx carrying s.
func withSent(ctx context.Context, s *sent) context.Context {
	return context.WithValue(ctx, sentKey{}, s)
}

// checkRedirect enforces the redirect rule on each hop: a hop to another
// origin than the first request's keeps only the header values the SDK
// set itself (none for a request the SDK did not build), no user info and
// no query value of the first request, and may not re-send a body the SDK
// did not take from its caller; no hop carries a Referer the caller did
// not set.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("sse: stopped after 10 redirects")
	}
	first := via[0]
	if origin(req.URL) == origin(first.URL) {
		if first.Header.Get("Referer") == "" {
			req.Header.Del("Referer")
		}
		return nil
	}
	s, _ := first.Context().Value(sentKey{}).(*sent)
	if s == nil && req.Body != nil && req.Body != http.NoBody {
		return &PermanentError{Err: errors.New("sse: refusing to re-send a request body with credentials to another origin")}
	}
	for name, values := range req.Header {
		if s == nil || !slices.Equal(s.own[name], values) {
			delete(req.Header, name)
		}
	}
	req.URL.User = nil
	if req.URL.RawQuery != "" && first.URL.RawQuery != "" {
		creds := first.URL.Query()
		q := req.URL.Query()
		changed := false
		for name, values := range q {
			kept := slices.DeleteFunc(slices.Clone(values), func(v string) bool {
				for _, cv := range creds {
					if v != "" && slices.Contains(cv, v) {
						return true
					}
				}
				return false
			})
			if len(kept) != len(values) {
				changed = true
				if len(kept) == 0 {
					q.Del(name)
				} else {
					q[name] = kept
				}
			}
		}
		if changed {
			req.URL.RawQuery = q.Encode()
		}
	}
	return nil
}

// isLoopback reports whether host names this machine's loopback interface
// without asking a resolver: "localhost" or a loopback IP literal. Other
// names under .localhost are not trusted: Go's resolver may send them to
// DNS.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// insecureError returns the error for credentials that would go over plain
// http to u, a host that is not loopback, or nil when that is allowed; how
// tells the caller how to opt out.
func insecureError(u *url.URL, allowPlainHTTP bool, how string) error {
	if allowPlainHTTP || !strings.EqualFold(u.Scheme, "http") || isLoopback(u.Hostname()) {
		return nil
	}
	return &PermanentError{Err: errors.New("sse: refusing to send credentials over plain http to " +
		redactURL(&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}) + "; use https, or " + how)}
}

// origin returns u's scheme, host and port, the port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// firstRequest returns the request that began req's redirect chain.
func firstRequest(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}

// originJar shows the wrapped jar's cookies only to requests for one
// origin, so that a redirect elsewhere carries no cookie.
type originJar struct {
	jar    http.CookieJar
	origin string
}

func (j *originJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if origin(u) == j.origin {
		j.jar.SetCookies(u, cookies)
	}
}

func (j *originJar) Cookies(u *url.URL) []*http.Cookie {
	if origin(u) != j.origin {
		return nil
	}
	return j.jar.Cookies(u)
}

// policyTransport is CredentialClient's transport: it refuses plain http
// to hosts that are not loopback for each request to the chain's first
// origin, and adds the jar's cookies only there.
type policyTransport struct {
	base           http.RoundTripper
	jar            http.CookieJar
	allowPlainHTTP bool
}

// RoundTrip sends req under the policy.
func (t *policyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	home := origin(req.URL) == origin(firstRequest(req).URL)
	if home {
		if err := insecureError(req.URL, t.allowPlainHTTP, "allow it explicitly"); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.jar == nil || !home {
		return base.RoundTrip(req)
	}
	if cookies := t.jar.Cookies(req.URL); len(cookies) > 0 {
		req = req.Clone(req.Context())
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
	}
	resp, err := base.RoundTrip(req)
	if err == nil {
		if rc := resp.Cookies(); len(rc) > 0 {
			t.jar.SetCookies(req.URL, rc)
		}
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the base transport.
func (t *policyTransport) CloseIdleConnections() {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// connError is a transport failure of one attempt, with the URL redacted.
type connError struct {
	method, url string
	err         error
}

func (e *connError) Error() string {
	return "sse: " + e.method + " " + e.url + ": " + strings.TrimPrefix(e.err.Error(), "sse: ")
}

func (e *connError) Unwrap() error { return e.err }

// transportError turns an http.Client.Do error into one that carries no
// secret: the *url.Error, which prints the whole URL, is taken apart, and
// what remains goes through the scrubber with the attempt's secrets.
func (r *runner) transportError(actx context.Context, req *http.Request, err error, secrets []string) error {
	if cause := context.Cause(actx); cause == errHeaderTimeout || cause == errForced {
		return &connError{method: req.Method, url: r.redacted, err: cause}
	}
	if actx.Err() != nil {
		return context.Cause(actx)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	permanent := isCertError(err) || isPermanent(err)
	err = scrubError(err, append(secrets, r.tmpl.secrets...))
	var out error = &connError{method: req.Method, url: r.redacted, err: err}
	if permanent {
		out = &PermanentError{Err: out}
	}
	return out
}

// isCertError reports whether err is a TLS failure that retrying cannot
// fix: an untrusted, invalid or misnamed certificate, or a server that does
// not speak TLS.
func isCertError(err error) bool {
	var (
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rhe tls.RecordHeaderError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &rhe)
}

// lostError describes why an open connection ended, for retry reports.
func (r *runner) lostError(why error) error {
	if why == io.EOF || why == nil {
		return &connError{method: r.tmpl.method, url: r.redacted, err: errors.New("server closed the stream")}
	}
	if why == errIdle {
		return &connError{method: r.tmpl.method, url: r.redacted, err: why}
	}
	var ue *url.Error
	if errors.As(why, &ue) {
		why = ue.Err
	}
	return &connError{method: r.tmpl.method, url: r.redacted, err: scrubError(why, r.tmpl.secrets)}
}
