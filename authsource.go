package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"golang.org/x/oauth2"
)

// AuthSource supplies the credentials of a stream's connection attempts.
// The Client calls Authorize once on every attempt's fresh request, and
// Refresh after the server answered 401, before one immediate retry.
//
// An error from Authorize or Refresh is retried with the stream's backoff
// unless it is (or wraps) a *PermanentError, which ends the stream.
//
// Authorize and Refresh must be safe for concurrent use by multiple
// goroutines: several streams may share one AuthSource.
type AuthSource interface {
	// Authorize adds credentials to one connection attempt's request.
	Authorize(ctx context.Context, req *http.Request) error
	// Refresh is called after the server answered 401 (rejected.Request
	// holds the credentials it refused); it must make the next Authorize
	// use fresh ones, or return an error when none can be had. When the
	// refused credentials are already replaced, it fetches nothing.
	Refresh(ctx context.Context, rejected *http.Response) error
}

// Bearer sends a token from ts as "Authorization: Bearer"; on a 401 it
// drops its cached token and asks ts again (refresh-on-401).
//
// The source keeps its own cached token and asks ts for a new one only when
// it has none, when the cached one has expired, or when Refresh is told
// that the server refused the cached one. Concurrent refusals of the same
// token (many streams sharing the source) cause one call to ts, not one
// each; a Refresh for a token that was already replaced calls nothing.
//
// ts should return a new token when asked after a refusal. The
// oauth2.TokenSource of oauth2.Config and clientcredentials.Config is an
// oauth2.ReuseTokenSource that keeps serving the same token until it
// expires, so a token the server revoked would come back: Refresh then
// fails with a *PermanentError. To refresh on every 401, pass a source
// whose Token fetches anew on each call, for example one calling
// clientcredentials.Config.Token(ctx).
//
// Token takes no context, so the source calls it on a goroutine of its
// own: Authorize and Refresh return when their ctx is done, while that call
// runs to completion and its token is kept for the next attempt. At most one
// such call runs at a time.
//
// Errors: a token endpoint's answer is reduced to its status code (and a
// standard OAuth2 error code such as "invalid_client"); its body is never
// repeated. A 4xx answer, an empty token, or a token holding a control
// character (which is not cached) is a *PermanentError; other failures are
// retried by the Client.
//
// A 401 from another origin than the one the token was sent to (the
// server redirected the stream there, and the redirect rule sent no
// credential) is not a refusal of the token: Refresh then fails with a
// *PermanentError, as no token can help.
//
// The returned AuthSource is safe for concurrent use by multiple goroutines.
func Bearer(ts oauth2.TokenSource) AuthSource {
	return &bearerSource{ts: ts}
}

// bearerSource is the AuthSource returned by Bearer.
type bearerSource struct {
	ts oauth2.TokenSource

	mu      sync.Mutex
	tok     *oauth2.Token // the cached token; nil when none
	refused string        // the last access token the server refused
	fetch   *tokenFetch   // the call to ts in progress, if any
}

// tokenFetch is one call to a TokenSource, shared by every caller waiting for it.
type tokenFetch struct {
	done chan struct{} // closed when tok and err are set
	tok  *oauth2.Token
	err  error
}

// Authorize sets "Authorization: Bearer <token>" on req.
func (b *bearerSource) Authorize(ctx context.Context, req *http.Request) error {
	tok, err := b.token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// Refresh drops the cached token when it is the one in rejected.Request and
// fetches a new one.
func (b *bearerSource) Refresh(ctx context.Context, rejected *http.Response) error {
	if crossOrigin401(rejected) {
		return errCrossOrigin401()
	}
	refused, known := refusedBearer(rejected)
	b.mu.Lock()
	if b.fetch == nil {
		if b.tok == nil || (known && b.tok.AccessToken != refused) {
			// Already dropped or replaced: the next Authorize fetches
			// or uses the new token.
			b.mu.Unlock()
			return nil
		}
		b.refused = b.tok.AccessToken
		b.tok = nil
	}
	b.mu.Unlock()
	_, err := b.token(ctx)
	return err
}

// refusedBearer returns the bearer token a refused request carried; known
// is false when it carried none, so the cached token is dropped.
func refusedBearer(rejected *http.Response) (tok string, known bool) {
	if rejected == nil || rejected.Request == nil {
		return "", false
	}
	h := rejected.Request.Header.Get("Authorization")
	if len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		return h[len("Bearer "):], true
	}
	return "", false
}

// crossOrigin401 reports whether rejected came from another origin than
// the one its redirect chain began at: the redirect rule sent that origin
// none of the attempt's credentials, so it refused none of them.
func crossOrigin401(rejected *http.Response) bool {
	if rejected == nil || rejected.Request == nil || rejected.Request.URL == nil {
		return false
	}
	first := firstRequest(rejected.Request)
	return first.URL != nil && origin(first.URL) != origin(rejected.Request.URL)
}

// errCrossOrigin401 is Refresh's answer to a crossOrigin401.
func errCrossOrigin401() error {
	return &PermanentError{Err: errors.New("sse: a redirect led to another origin, which answered 401; " +
		"credentials are never sent across origins, so no refresh can help")}
}

// token returns the cached token, or waits for a call to ts (starting one
// when none is running) until it ends or ctx is done.
func (b *bearerSource) token(ctx context.Context) (*oauth2.Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.fetch == nil && b.tok.Valid() {
		tok := b.tok
		b.mu.Unlock()
		return tok, nil
	}
	f := b.fetch
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		b.fetch = f
		go b.run(f)
	}
	b.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run calls ts once and publishes the result to f and the cache.
func (b *bearerSource) run(f *tokenFetch) {
	tok, err := b.ts.Token()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err != nil:
		err = tokenError("token source", err)
	case tok == nil || tok.AccessToken == "":
		err = &PermanentError{Err: errors.New("sse: token source returned an empty token")}
	case hasCtl(tok.AccessToken):
		// Never cached: the next Authorize asks ts again.
		err = &PermanentError{Err: errors.New("sse: token holds a control character; it cannot be sent")}
	case b.refused != "" && tok.AccessToken == b.refused:
		err = &PermanentError{Err: errors.New("sse: token source returned the token the server refused; " +
			"pass a TokenSource that fetches a new token on every call " +
			"(for example one calling clientcredentials.Config.Token)")}
	default:
		b.tok = tok
	}
	if err != nil {
		tok = nil
	}
	f.tok, f.err = tok, err
	b.fetch = nil
	close(f.done)
}

// oauthErrorCodes are the error codes of RFC 6749 section 5.2: the only parts
// of a token endpoint's answer that go into an error string.
var oauthErrorCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
}

// tokenError turns an error from a token fetch into one that repeats no
// part of the answer's body, no query value and nothing else the scrubber
// removes: an endpoint's 4xx and a refusal by the credential policy are
// permanent, anything else is retried. Context errors stay reachable with
// errors.Is.
func tokenError(what string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := 0
		if re.Response != nil {
			code = re.Response.StatusCode
		}
		msg := fmt.Sprintf("sse: %s: token endpoint answered %d", what, code)
		if oauthErrorCodes[re.ErrorCode] {
			msg += " " + re.ErrorCode
		}
		if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
			return &PermanentError{Err: errors.New(msg)}
		}
		return errors.New(msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	permanent := isPermanent(err)
	var ue *url.Error
	if errors.As(err, &ue) {
		cause := scrubError(ue.Err, nil)
		err = &causeError{msg: fmt.Sprintf("sse: %s: %s %s: %s", what, ue.Op, redactRawURL(ue.URL), truncate(strings.TrimPrefix(cause.Error(), "sse: "), 256)), cause: cause}
	} else {
		err = wrapScrubbed(what, err, nil)
	}
	if permanent {
		err = &PermanentError{Err: err}
	}
	return err
}

// redactRawURL redacts a URL given as a string; an unparsable one shows nothing.
func redactRawURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	return redactURL(u)
}

// QueryToken puts a short-lived token in the query of every attempt, as the
// parameter param ("token" when empty). It calls token once per attempt,
// so each attempt carries a token fresh from it; Refresh does nothing, as
// the retry after a 401 fetches anew.
//
// token is called concurrently when several streams share the source, and
// must honour ctx. To use an oauth2 source, return the AccessToken of
// clientcredentials.Config.Token(ctx) or of an oauth2.TokenSource's Token.
// An error from token is retried by the Client unless it is a
// *PermanentError; a token endpoint's error body is never repeated. An empty
// token, or one holding a control character, is a *PermanentError.
//
// The returned AuthSource is safe for concurrent use by multiple goroutines
// when token is.
func QueryToken(param string, token func(ctx context.Context) (string, error)) AuthSource {
	if param == "" {
		param = "token"
	}
	return &queryTokenSource{param: param, token: token}
}

// queryTokenSource is the AuthSource returned by QueryToken.
type queryTokenSource struct {
	param string
	token func(ctx context.Context) (string, error)
}

func (q *queryTokenSource) Authorize(ctx context.Context, req *http.Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tok, err := q.token(ctx)
	if err != nil {
		return tokenError("query token", err)
	}
	if tok == "" {
		return &PermanentError{Err: errors.New("sse: query token: empty token")}
	}
	if hasCtl(tok) {
		return &PermanentError{Err: errors.New("sse: query token holds a control character")}
	}
	setQuery(req, q.param, tok)
	return nil
}

func (q *queryTokenSource) Refresh(context.Context, *http.Response) error { return nil }

// setQuery sets the query parameter name of req's URL to value: it drops
// the parameter's old values and appends the new one, leaving every other
// parameter as the caller wrote it.
func setQuery(req *http.Request, name, value string) {
	var kept []string
	for _, pair := range strings.Split(req.URL.RawQuery, "&") {
		if pair == "" {
			continue
		}
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == name {
			continue
		}
		kept = append(kept, pair)
	}
	kept = append(kept, url.QueryEscape(name)+"="+url.QueryEscape(value))
	req.URL.RawQuery = strings.Join(kept, "&")
}

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

// cookieSource is the AuthSource returned by Cookies.
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

// StaticHeaders sets the fixed headers h (an API key, say) on every attempt,
// replacing any values the request had for those names. h is copied. A
// name or value that RFC 9110 does not allow (a name that is not a token,
// a value with a control character other than tab) makes Authorize fail
// with a *PermanentError.
// Refresh does nothing: fixed credentials cannot be renewed, so a second
// 401 in a row ends the stream.
//
// The returned AuthSource is safe for concurrent use by multiple goroutines.
func StaticHeaders(h http.Header) AuthSource {
	return headerSource(h.Clone())
}

// headerSource is the AuthSource returned by Headers.
type headerSource http.Header

func (h headerSource) Authorize(ctx context.Context, req *http.Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := wireError(http.Header(h), "", ""); err != nil {
		return &PermanentError{Err: err}
	}
	for k, vs := range h {
		req.Header.Del(k)
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return nil
}

func (h headerSource) Refresh(context.Context, *http.Response) error { return nil }

// Combine returns a source that applies each of sources in turn: Authorize
// stops at the first error; Refresh calls every source's Refresh and joins
// their errors (the result is permanent when any of them is). Nil sources
// are skipped.
//
// The returned AuthSource is safe for concurrent use by multiple goroutines
// when each of sources is.
func Combine(sources ...AuthSource) AuthSource {
	var c combinedSource
	for _, s := range sources {
		if s != nil {
			c = append(c, s)
		}
	}
	return c
}

// combinedSource is the AuthSource returned by Combine.
type combinedSource []AuthSource

func (c combinedSource) Authorize(ctx context.Context, req *http.Request) error {
	for _, s := range c {
		if err := s.Authorize(ctx, req); err != nil {
			return err
		}
	}
	return nil
}

func (c combinedSource) Refresh(ctx context.Context, rejected *http.Response) error {
	var errs []error
	for _, s := range c {
		if err := s.Refresh(ctx, rejected); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
