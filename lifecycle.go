package sse

// This file holds Lifecycle, which says whether a stream's request is sent
// again after the stream ends, and the default that follows RFC 9110.

import "net/http"

// Lifecycle says what happens to a stream's request after the stream ends:
// whether it is sent again.
type Lifecycle int

const (
	// LifecycleByMethod, the zero value, makes a request resumable when
	// its method is idempotent under RFC 9110 (GET, HEAD, OPTIONS, TRACE,
	// PUT, DELETE) and finite otherwise (POST, PATCH, any other method).
	LifecycleByMethod Lifecycle = iota

	// Resumable is the browser's EventSource: the request is sent again,
	// with Last-Event-ID, after the server ends the stream or the
	// connection is lost. Mark a long-lived POST or REPORT stream this way
	// when its server expects it.
	Resumable

	// Finite is fetch's: the stream ends, with Err nil, when the server
	// ends it; a connection lost after the request may have reached the
	// server ends it with an error wrapping ErrStreamLost, unless
	// Client.Resume can resume it. Before the stream opens, the request is
	// sent again only where the server certainly did not act on it: no
	// byte of it was sent, or the server answered 401 (credentials are
	// refreshed first), 408, 429 or 503, or sent X-Should-Retry: true.
	Finite
)

// isFinite reports whether a request with method is finite under l.
func isFinite(l Lifecycle, method string) bool {
	switch l {
	case Resumable:
		return false
	case Finite:
		return true
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return false
	}
	return true
}
