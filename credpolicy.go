package sse

// This file holds the credential policy of the stream's requests: which
// origin credentials may reach, the redirect rule, the plain-http rule, and
// the scrubbing of errors that could repeat a secret.

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
)

// httpClient makes the private copy of the base client that r uses.
func (s *settings) httpClient(r *runner) *http.Client {
	hc := *s.base
	r.headerTimeout = hc.Timeout
	hc.Timeout = 0
	userCheck := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := r.checkRedirect(req, via); err != nil {
			return err
		}
		if userCheck != nil {
			return userCheck(req, via)
		}
		return nil
	}
	if hc.Jar != nil {
		hc.Jar = &originJar{jar: hc.Jar, origin: origin(r.tmpl.url)}
	}
	return &hc
}

// isLoopback reports whether host names this machine's loopback interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// origin returns u's scheme, host and port, the port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
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

// safeRedirectHeaders are the request headers that may follow a redirect to
// another origin; every other one may be a credential and is dropped.
var safeRedirectHeaders = map[string]bool{
	"Accept":          true,
	"Accept-Encoding": true,
	"Accept-Language": true,
	"Cache-Control":   true,
	"Content-Type":    true,
	"Last-Event-Id":   true,
	"User-Agent":      true,
}

// checkRedirect enforces the credential rule on each redirect hop: a hop
// to another origin (scheme, host or port) keeps only headers that carry no
// credential, and no hop carries a Referer the caller did not set.
func (r *runner) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("sse: stopped after 10 redirects")
	}
	if origin(req.URL) != origin(r.tmpl.url) {
		for name := range req.Header {
			if !safeRedirectHeaders[http.CanonicalHeaderKey(name)] {
				delete(req.Header, name)
			}
		}
		// A Location that repeats the query must not carry the
		// credentials the AuthSource put there.
		if len(r.credQuery) > 0 && req.URL.RawQuery != "" {
			q := req.URL.Query()
			for name, values := range q {
				kept := slices.DeleteFunc(values, func(v string) bool { return slices.Contains(r.credQuery, v) })
				if len(kept) == 0 {
					q.Del(name)
				} else {
					q[name] = kept
				}
			}
			req.URL.RawQuery = q.Encode()
		}
		return nil
	}
	if !r.callerRefr {
		req.Header.Del("Referer")
	}
	return nil
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
// any credential value is scrubbed from what remains.
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
	msg := err.Error()
	scrubbed := msg
	for _, s := range secrets {
		scrubbed = strings.ReplaceAll(scrubbed, s, "REDACTED")
	}
	if scrubbed != msg || strings.Contains(msg, "://") {
		// The inner error would still print the secret; keep its text only.
		err = errors.New(truncate(redactURLsIn(scrubbed), 512))
	}
	var out error = &connError{method: req.Method, url: r.redacted, err: err}
	if permanent {
		out = &PermanentError{Err: out}
	}
	return out
}

// redactURLsIn cuts the query off every URL-looking word in s.
func redactURLsIn(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		if strings.Contains(w, "://") {
			if j := strings.IndexAny(w, "?#"); j >= 0 {
				words[i] = w[:j] + "?REDACTED"
			}
		}
	}
	return strings.Join(words, " ")
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
	return &connError{method: r.tmpl.method, url: r.redacted, err: errors.New(truncate(redactURLsIn(why.Error()), 256))}
}
