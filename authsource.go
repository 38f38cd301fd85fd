package sse

// This file holds the AuthSource interface, the simple sources (QueryToken,
// StaticHeaders, Combine) and the helpers several sources share: the
// cross-origin 401 rule and the scrubbing of token-fetch errors. Bearer is
// in bearer.go, SessionCookies in cookies.go, TicketSource in
// ticketsource.go.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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

// headerSource is the AuthSource returned by StaticHeaders.
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
