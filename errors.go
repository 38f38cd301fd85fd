package sse

// This file holds the package's exported errors and the helpers that keep
// a secret out of their text (redacted URLs, truncation).

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// ErrEventTooLarge is wrapped by the error a Parser returns when a line or
// an event exceeds its limit (see DefaultMaxLineSize, DefaultMaxEventSize
// and Parser.SetLimits). The Parser stops there: its error is sticky.
var ErrEventTooLarge = errors.New("sse: event too large")

// ParseError reports where a Parser stopped on input it will not accept. It
// wraps ErrEventTooLarge, so errors.Is(err, ErrEventTooLarge) holds.
type ParseError struct {
	Offset int64  // bytes read from the stream when the limit was hit
	Limit  int    // the limit, in bytes, that was exceeded
	What   string // "line" or "event"
	Err    error  // ErrEventTooLarge
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("sse: %s exceeds the %d-byte limit at byte %d of the stream", e.What, e.Limit, e.Offset)
}

// Unwrap returns e.Err.
func (e *ParseError) Unwrap() error { return e.Err }

// StatusError reports a response that did not open a stream: a status other
// than 200 and 204, or a 200 whose Content-Type is not text/event-stream.
type StatusError struct {
	Code        int           // the HTTP status code
	ContentType string        // the response's Content-Type, when Code is 200
	RetryAfter  time.Duration // the Retry-After the server asked for; 0 if none
	URL         string        // the request URL, query values redacted

	// Header and Body are the refused response's header and the first 4
	// KiB of its body (an API's JSON error, say), for the caller to read.
	// Error never includes them: a server may echo credentials there, so
	// treat them as secret until checked.
	Header http.Header
	Body   []byte
}

func (e *StatusError) Error() string {
	if e.Code == http.StatusOK {
		return fmt.Sprintf("sse: %s: Content-Type %q is not text/event-stream", e.URL, truncate(e.ContentType, 64))
	}
	return fmt.Sprintf("sse: %s: %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// GoString keeps Header and Body out of %#v, which a log line may print:
// a server may echo credentials in them.
func (e *StatusError) GoString() string {
	return fmt.Sprintf("&sse.StatusError{Code:%d, ContentType:%q, RetryAfter:%d, URL:%q}", e.Code, e.ContentType, int64(e.RetryAfter), e.URL)
}

// PermanentError marks a failure after which retrying cannot help: the
// Client stops instead of reconnecting. An AuthSource returns one (or wraps
// one) from Authorize or Refresh when no credentials can be had; any other
// error from an AuthSource is retried with backoff.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "sse: permanent failure"
	}
	return e.Err.Error()
}

// Unwrap returns e.Err.
func (e *PermanentError) Unwrap() error { return e.Err }

// AuthError reports that credentials could not be had or were refused: an
// AuthSource failed, or the server answered 401 twice in a row.
type AuthError struct {
	Op  string // "authorize", "refresh" or "rejected"
	Err error
}

func (e *AuthError) Error() string {
	if e.Err == nil {
		return "sse: auth " + e.Op + " failed"
	}
	return "sse: auth " + e.Op + ": " + strings.TrimPrefix(e.Err.Error(), "sse: ")
}

// Unwrap returns e.Err.
func (e *AuthError) Unwrap() error { return e.Err }

// isPermanent reports whether err is marked permanent.
func isPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// redactURL renders u for errors and logs: scheme, host, path and the names
// of query parameters, with every query value, the user info and the
// fragment left out.
func redactURL(u *url.URL) string {
	if u == nil {
		return "<nil URL>"
	}
	var b strings.Builder
	if u.Scheme != "" {
		b.WriteString(u.Scheme)
		b.WriteString("://")
	}
	b.WriteString(u.Host)
	b.WriteString(truncate(u.EscapedPath(), 256))
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil && len(q) == 0 {
			b.WriteString("?REDACTED")
			return b.String()
		}
		names := make([]string, 0, len(q))
		for k := range q {
			names = append(names, k)
		}
		sort.Strings(names)
		for i, k := range names {
			if i == 0 {
				b.WriteByte('?')
			} else {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(truncate(k, 64)))
			b.WriteString("=REDACTED")
		}
	}
	return b.String()
}

// truncate shortens s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
