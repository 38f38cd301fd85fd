package sse

// This file holds Bearer, the AuthSource that sends an oauth2 token and
// asks for a new one on a 401, and its shared, cancellable token fetch.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/oauth2"
)

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
