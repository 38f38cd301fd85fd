package sse

import (
	"context"
	"net/http"
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
