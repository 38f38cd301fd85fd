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
}

const maxBufferedBody = 16 << 20

func newTemplate(req *http.Request, cfg *settings) (*template, error) {
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, &PermanentError{Err: fmt.Errorf("sse: unsupported URL scheme %q in %s; use http or https", truncate(u.Scheme, 16), redactURL(u))}
	}
	if u.Host == "" {
		return nil, &PermanentError{Err: fmt.Errorf("sse: URL %s has no host", redactURL(u))}
	}
	if err := ctlError(req.Header, u.Query(), ""); err != nil {
		return nil, &PermanentError{Err: err}
	}
	if (cfg.auth != nil || cfg.base.Jar != nil) && !cfg.allowInsecure && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, &PermanentError{Err: fmt.Errorf("sse: refusing to send credentials over plain http to %s; use https, or set Client.AllowInsecure", redactURL(u))}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	t := &template{method: method, url: u, host: req.Host, header: req.Header.Clone(), getBody: req.GetBody, contentLength: req.ContentLength}
	if t.header == nil {
		t.header = make(http.Header)
	}
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

// hasCtlAny reports whether s holds any ASCII control character.
func hasCtlAny(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// newRequest builds one attempt's request from the template: fresh
// headers, body and credentials. secrets lists the values that must not
// appear in any error.
func (r *runner) newRequest(ctx context.Context) (*http.Request, []string, error) {
	t := r.tmpl
	u := *t.url
	req, err := http.NewRequestWithContext(ctx, t.method, "http://placeholder/", nil)
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
		req.Header.Set("Accept", "text/event-stream")
	}
	if id := r.lastID; id != "" && !hasCtlAny(id) {
		req.Header.Set("Last-Event-ID", id)
	}

	if r.cfg.auth != nil {
		before := req.Header.Clone()
		query := req.URL.RawQuery
		if err := r.cfg.auth.Authorize(ctx, req); err != nil {
			if ctx.Err() != nil {
				return nil, nil, context.Cause(ctx)
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				err = &AuthError{Op: "authorize", Err: err}
			}
			if isPermanent(err) {
				err = &PermanentError{Err: err}
			}
			return nil, nil, err
		}
		r.credQuery = nil
		if req.URL.RawQuery != query {
			req.Header.Set("Cache-Control", "no-store")
			r.credQuery = addedQueryValues(query, req.URL.RawQuery)
		}
		if err := checkWire(req); err != nil {
			return nil, nil, err
		}
		secrets := secretsOf(req, before)
		if req.Header.Get("Cache-Control") == "" {
			req.Header.Set("Cache-Control", "no-cache")
		}
		return req, secrets, nil
	}
	req.Header.Set("Cache-Control", "no-cache")
	return req, secretsOf(req, nil), nil
}

// addedQueryValues returns the query values in after that before did not
// have: the credentials an AuthSource put in the query.
func addedQueryValues(before, after string) []string {
	had, _ := url.ParseQuery(before)
	now, _ := url.ParseQuery(after)
	var out []string
	for name, values := range now {
		for _, v := range values {
			if v != "" && !slices.Contains(had[name], v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// checkWire refuses a request whose headers or query an AuthSource filled
// with CR, LF or NUL, before anything is sent.
func checkWire(req *http.Request) error {
	err := ctlError(req.Header, nil, "; nothing was sent")
	if err == nil {
		q, perr := url.ParseQuery(req.URL.RawQuery)
		if perr != nil {
			err = errors.New("sse: the request's query does not parse; nothing was sent")
		} else {
			err = ctlError(nil, q, "; nothing was sent")
		}
	}
	if err != nil {
		return &PermanentError{Err: &AuthError{Op: "authorize", Err: err}}
	}
	return nil
}

// ctlError reports the first header (name or value) or query value that
// holds CR, LF or NUL, naming it but never showing its value; suffix ends
// the message.
func ctlError(h http.Header, q url.Values, suffix string) error {
	for name, values := range h {
		for _, v := range values {
			if hasCtl(v) || hasCtl(name) {
				return fmt.Errorf("sse: header %q holds CR, LF or NUL%s", truncate(name, 64), suffix)
			}
		}
	}
	for name, values := range q {
		for _, v := range values {
			if hasCtl(v) {
				return fmt.Errorf("sse: query parameter %q holds CR, LF or NUL%s", truncate(name, 64), suffix)
			}
		}
	}
	return nil
}

// secretsOf lists the credential values in req: the query values, the
// password, cookies and the header values that differ from before.
func secretsOf(req *http.Request, before http.Header) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	for _, values := range req.URL.Query() {
		for _, v := range values {
			add(v)
		}
	}
	if p, ok := req.URL.User.Password(); ok {
		add(p)
	}
	for name, values := range req.Header {
		if before != nil && name != "Authorization" && name != "Cookie" && slices.Equal(before[name], values) {
			continue
		}
		if before == nil && name != "Authorization" && name != "Cookie" {
			continue
		}
		for _, v := range values {
			add(v)
			if i := strings.IndexByte(v, ' '); i > 0 {
				add(v[i+1:])
			}
		}
	}
	return out
}
