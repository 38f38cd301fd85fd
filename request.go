package sse

// This file builds each connection attempt's request from the caller's
// template: method, headers, body, Last-Event-ID and the AuthSource's
// credentials, with the checks that keep a bad value off the wire.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// template is the caller's request, kept to build each attempt anew.
type template struct {
	method  string
	url     *url.URL
	host    string
	header  http.Header
	getBody func() (io.ReadCloser, error)
	// contentLength is the body's length; 0 with a body means unknown.
	contentLength int64
	// secrets are the caller's credential values (query values, user
	// info, header values), which no error may show.
	secrets []string
}

const maxBufferedBody = 16 << 20

// callerCredentialHeaders are the headers whose presence on the caller's
// request makes it a credentialed one for the plain-http rule.
var callerCredentialHeaders = []string{"Authorization", "Cookie", "Proxy-Authorization"}

func newTemplate(req *http.Request, cfg *settings) (*template, error) {
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, &PermanentError{Err: fmt.Errorf("sse: unsupported URL scheme %q in %s; use http or https", truncate(u.Scheme, 16), redactURL(u))}
	}
	if u.Host == "" {
		return nil, &PermanentError{Err: fmt.Errorf("sse: URL %s has no host", redactURL(u))}
	}
	if err := wireError(req.Header, u.RawQuery, ""); err != nil {
		return nil, &PermanentError{Err: err}
	}
	credentialed := cfg.auth != nil || cfg.base.Jar != nil || u.User != nil ||
		slices.ContainsFunc(callerCredentialHeaders, func(h string) bool { return len(req.Header.Values(h)) > 0 })
	if credentialed {
		if err := insecureError(u, cfg.allowPlainHTTP, "set Client.AllowPlainHTTP"); err != nil {
			return nil, err
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	t := &template{method: method, url: u, host: req.Host, header: req.Header.Clone(), getBody: req.GetBody, contentLength: req.ContentLength}
	if t.header == nil {
		t.header = make(http.Header)
	}
	t.secrets = secretsOf(t.header, u.RawQuery, u.User)
	if req.Body != nil && req.Body != http.NoBody && t.getBody == nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxBufferedBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sse: reading the request body: %w", err)
		}
		if len(b) > maxBufferedBody {
			return nil, &PermanentError{Err: errors.New("sse: request body over 16 MiB without GetBody; set req.GetBody so each attempt can re-read it")}
		}
		t.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		t.contentLength = int64(len(b))
	}
	return t, nil
}

// parseURL parses a caller's URL without letting the URL, which may hold
// a credential, into the error.
func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		reason := err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			reason = ue.Err.Error()
		}
		if i := strings.IndexAny(reason, "\"'"); i >= 0 {
			reason = strings.TrimSpace(reason[:i])
		}
		return nil, &PermanentError{Err: fmt.Errorf("sse: invalid URL (%s)", truncate(reason, 128))}
	}
	return u, nil
}

// newRequest builds one attempt's request from the template: fresh
// headers, body and credentials. It records in the request's context which
// header values the SDK set itself (the redirect rule lets only those
// cross origins), and returns the values that must not appear in any
// error: everything the caller and the AuthSource added.
func (r *runner) newRequest(ctx context.Context) (*http.Request, []string, error) {
	t := r.tmpl
	u := *t.url
	s := &sent{own: make(http.Header)}
	req, err := http.NewRequestWithContext(withSent(ctx, s), t.method, "http://placeholder/", nil)
	if err != nil {
		return nil, nil, &PermanentError{Err: fmt.Errorf("sse: invalid method %q", truncate(t.method, 32))}
	}
	req.URL = &u
	req.Host = t.host
	req.Header = t.header.Clone()
	if t.getBody != nil {
		body, err := t.getBody()
		if err != nil {
			return nil, nil, &PermanentError{Err: fmt.Errorf("sse: request body: %w", err)}
		}
		req.Body = body
		req.GetBody = t.getBody
		req.ContentLength = t.contentLength
	}
	if req.Header.Get("Accept") == "" {
		s.own.Set("Accept", "text/event-stream")
	}
	if id := r.lastID; id != "" && !hasCtl(id) {
		s.own.Set("Last-Event-ID", id)
	}
	for name, values := range s.own {
		req.Header[name] = slices.Clone(values)
	}

	if r.cfg.auth != nil {
		if err := r.cfg.auth.Authorize(ctx, req); err != nil {
			return nil, nil, r.authorizeError(ctx, err)
		}
		if err := wireError(req.Header, req.URL.RawQuery, "; nothing was sent"); err != nil {
			return nil, nil, &PermanentError{Err: &AuthError{Op: "authorize", Err: err}}
		}
		// What the AuthSource overwrote is no longer the SDK's.
		for name, values := range s.own {
			if !slices.Equal(req.Header[name], values) {
				delete(s.own, name)
			}
		}
	}
	if req.Header.Get("Cache-Control") == "" {
		// Neither the caller nor the AuthSource chose one: a query
		// (which may hold a credential) must not be stored.
		cc := "no-cache"
		if req.URL.RawQuery != "" {
			cc = "no-store"
		}
		req.Header.Set("Cache-Control", cc)
		s.own.Set("Cache-Control", cc)
	}
	other := make(http.Header, len(req.Header))
	for name, values := range req.Header {
		if !slices.Equal(s.own[name], values) {
			other[name] = values
		}
	}
	return req, secretsOf(other, req.URL.RawQuery, req.URL.User), nil
}

// authorizeError turns an error from AuthSource.Authorize into the
// attempt's error: an *AuthError, permanent when the source said so, with
// its text scrubbed.
func (r *runner) authorizeError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	permanent := isPermanent(err)
	var ae *AuthError
	if !errors.As(err, &ae) {
		err = &AuthError{Op: "authorize", Err: scrubError(err, r.tmpl.secrets)}
	}
	if permanent {
		err = &PermanentError{Err: err}
	}
	return err
}
