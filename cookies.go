package sse

// This file holds SessionCookies, the AuthSource that sends a cookie jar's
// session cookies and logs in again on a 401.

import (
	"context"
	"errors"
	"net/http"
)

// SessionCookies sends the cookies jar holds for each attempt's URL (a session
// cookie from a login, say) as the request's Cookie header. On a 401,
// Refresh calls relogin, which should log in again and store the new
// session cookie in jar; with relogin nil, a refused session is a
// *PermanentError. An error from relogin is retried by the Client unless it
// is a *PermanentError.
//
// Refresh calls relogin only when the refused request carried the cookies
// jar still holds: concurrent refusals of one session cause one relogin,
// and relogin never runs twice at a time. A 401 from another origin than
// the stream's (after a redirect, which carries no cookie) refuses no
// session: Refresh then fails with a *PermanentError without relogin.
//
// Set the jar here or on the Client's HTTPClient, not both, or cookies go
// twice. Cookies the stream's responses set are not stored in jar.
//
// The returned AuthSource is safe for concurrent use by multiple goroutines
// when jar is (net/http/cookiejar's Jar is).
func SessionCookies(jar http.CookieJar, relogin func(ctx context.Context) error) AuthSource {
	return &cookieSource{jar: jar, relogin: relogin, sem: make(chan struct{}, 1)}
}

// cookieSource is the AuthSource returned by SessionCookies.
type cookieSource struct {
	jar     http.CookieJar
	relogin func(ctx context.Context) error
	sem     chan struct{} // held while relogin runs
}

func (c *cookieSource) Authorize(ctx context.Context, req *http.Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, ck := range c.jar.Cookies(req.URL) {
		if !validFieldName(ck.Name) || hasCtl(ck.Value) {
			return &PermanentError{Err: errors.New("sse: cookie name or value cannot be sent")}
		}
		req.AddCookie(ck)
	}
	return nil
}

func (c *cookieSource) Refresh(ctx context.Context, rejected *http.Response) error {
	if crossOrigin401(rejected) {
		return errCrossOrigin401()
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.sem }()
	if rejected != nil && rejected.Request != nil && rejected.Request.URL != nil {
		refused := rejected.Request.Header.Get("Cookie")
		if refused != cookieHeader(c.jar.Cookies(rejected.Request.URL)) {
			return nil // the session was renewed since
		}
	}
	if c.relogin == nil {
		return &PermanentError{Err: errors.New("sse: the server refused the session cookie and no relogin function is set")}
	}
	if err := c.relogin(ctx); err != nil {
		if isPermanent(err) || ctx.Err() != nil {
			return err
		}
		return wrapScrubbed("relogin", err, nil)
	}
	return nil
}

// cookieHeader renders cookies the way http.Request.AddCookie does.
func cookieHeader(cookies []*http.Cookie) string {
	r := http.Request{Header: http.Header{}}
	for _, ck := range cookies {
		r.AddCookie(ck)
	}
	return r.Header.Get("Cookie")
}
