package sse

// This file holds the Client: its settings and their defaults, the
// Lifecycle of a stream, the Attempt report, and the three ways to open a
// stream (Connect, Do, Events).

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Client opens event streams: it reconnects with backoff, resumes with
// Last-Event-ID, honours the server's retry: field and takes credentials
// from an AuthSource. Most callers want Connect (a GET stream on a
// channel); Do sends any request, and Events pulls events in the caller's
// goroutine with no goroutine of the SDK's own.
//
// A stream is resumable or finite (see Lifecycle): a resumable one (a GET,
// as a browser's EventSource opens) reconnects whenever it ends; a finite
// one (a POST, as an LLM completion or an MCP tool call is consumed) ends
// when the server ends it and is never sent again once the server may have
// acted on it.
//
// The zero value is ready to use, and every field documents its default. A
// Client is safe for concurrent use by multiple goroutines; its fields must
// not change while a Connect or Do is running. Each Stream takes a private
// copy of the settings when it starts.
type Client struct {
	// HTTPClient sends the requests. If nil, a client with no overall
	// timeout is used whose transport has a 30s response-header timeout and
	// a 10s TLS-handshake timeout.
	//
	// The Client never modifies it: it works on a shallow copy whose
	// CheckRedirect enforces the credential rules (credentials never leave
	// their origin; the caller's CheckRedirect, if any, runs after) and
	// whose Jar, if any, only sees requests to the stream's own origin. A
	// non-zero HTTPClient.Timeout would cut every healthy stream after that
	// long, so it is applied to each attempt only until the response
	// headers arrive.
	HTTPClient *http.Client

	// Auth adds credentials to each connection attempt. If nil, no
	// credentials are added.
	Auth AuthSource

	// LastEventID is the ID sent as Last-Event-ID on the first attempt, to
	// resume a stream after a process restart. Empty: none. A value with a
	// control character (CR, LF, NUL, …) makes Connect fail before any I/O.
	LastEventID string

	// IdleTimeout is how long a stream may send no bytes at all (comments
	// count) before it is considered dead and reconnected. If 0, 90s is
	// used; a negative value disables it.
	IdleTimeout time.Duration

	// Lifecycle says whether the request is sent again after the stream
	// ends. The zero value, LifecycleByMethod, makes GET and the other
	// idempotent methods resumable and POST, PATCH and the rest finite.
	Lifecycle Lifecycle

	// Resume, if set, resumes a finite stream instead of ending it: when
	// a stream that opened and passed an event ID ends or is lost, the
	// client sends the request Resume returns for lastEventID (for MCP's
	// Streamable HTTP: a GET to the same endpoint with the Mcp-Session-Id
	// header). The client adds Last-Event-ID, Accept, Cache-Control and
	// the AuthSource's credentials to it, and calls Resume again before
	// every later reconnection, so the stream is resumable from then on.
	// Returning a nil request ends the stream normally (say, once the
	// response the caller waited for has arrived); an error is retried
	// with backoff unless it is a *PermanentError. Resume runs on the
	// goroutine that reads the stream.
	Resume func(ctx context.Context, lastEventID string) (*http.Request, error)

	// RetryDelay is the reconnection time until the server sends a retry:
	// field, which then replaces it for the life of the stream. If 0, 1s
	// is used.
	//
	// After a connection that delivered at least one event, the next
	// attempt waits the reconnection time plus jitter of up to half of it,
	// with no growth, as a browser does. Failed attempts, and connections
	// that delivered no event (a server that accepts and closes at once,
	// or sends auth_expired on every open), grow the wait exponentially
	// from the reconnection time up to MaxRetryDelay. Every path that
	// reconnects (a loss, a 401 refresh, auth_expired, MaxConnAge,
	// Stream.Reconnect) follows this pacing.
	RetryDelay time.Duration

	// MinRetryDelay is the floor of every delay, so that retry: 0 cannot
	// cause a hot loop even when each connection delivers an event. If 0,
	// 500ms is used; a negative value means no floor.
	MinRetryDelay time.Duration

	// MaxRetryDelay caps the exponential growth of the delay, the
	// server's retry: and the Retry-After the client honours. If 0, 30s is
	// used. Jitter of up to half the delay is added on top, never
	// subtracted.
	MaxRetryDelay time.Duration

	// MaxRetries is the number of failures in a row after which the
	// stream gives up. A failure is an attempt that did not open the
	// stream (a refused response, a network error, a failed Authorize or
	// Refresh) or a connection that ended before delivering any event;
	// the count restarts when a connection delivers an event. If 0, the
	// stream never gives up on retryable failures.
	MaxRetries int

	// MaxElapsed is how long the stream keeps trying, counted from the
	// first of the failures in a row (see MaxRetries), before it gives
	// up: an attempt whose wait would end later is not made. If 0, it
	// never gives up.
	MaxElapsed time.Duration

	// Backoff, if set, is called once per stream to make the policy that
	// replaces the built-in exponential growth over failures (no jitter is
	// then added). Returning backoff.Stop from NextBackOff gives up. It is
	// Reset after each connection that delivered events, which waits the
	// reconnection time as usual. The server's retry:, Retry-After and
	// MinRetryDelay still bound each delay from below.
	Backoff func() backoff.BackOff

	// MaxLineSize and MaxEventSize are the parser's limits; if 0,
	// DefaultMaxLineSize and DefaultMaxEventSize are used. A stream that
	// exceeds one ends with an error wrapping ErrEventTooLarge.
	MaxLineSize, MaxEventSize int

	// AllowPlainHTTP permits credentials (an Auth source, a cookie Jar,
	// URL user info, or a caller-set Authorization, Cookie or
	// Proxy-Authorization header) to travel over plain http to hosts other
	// than localhost and loopback IP literals. By default such a request
	// fails before any I/O.
	AllowPlainHTTP bool

	// AuthExpiredEvent is the event type a server sends before it closes a
	// stream whose credentials have expired. With an Auth source, the
	// client then closes the connection, calls Auth.Refresh and reconnects
	// with the usual pacing, resuming with Last-Event-ID; such an event is
	// not delivered. Without one, it is delivered like any other event. If
	// empty, "auth_expired" is used.
	AuthExpiredEvent string

	// MaxConnAge, if positive, makes the client close and reopen a
	// resumable connection after it has been open that long, so that
	// credentials are checked again. If 0, connections are kept as long as
	// they work. A finite stream without Resume is never cut this way.
	MaxConnAge time.Duration

	// Logger receives connection state and retries. If nil, nothing is
	// logged. No credential ever appears in a record.
	Logger *slog.Logger

	// OnComment, if set, is called with each comment line's text (the
	// part after the colon, one leading space removed), in stream order
	// relative to events: with Events, from the caller's goroutine between
	// two events; with a Stream, from its goroutine once the caller has
	// received every earlier event from the channel. It must not block for
	// long; it may call Stream.Close.
	OnComment func(comment string)

	// OnAttempt, if set, is called after each connection attempt and
	// after each connection ends (see Attempt): with Events, from the
	// caller's goroutine; with Connect and Do, from the caller's goroutine
	// until the first open (Connect and Do wait for it there), then from
	// the Stream's. It must not block for long; it may call Stream.Close.
	OnAttempt func(Attempt)
}

// settings is a Client's configuration with its defaults resolved.
type settings struct {
	base           *http.Client
	auth           AuthSource
	lastEventID    string
	idle           time.Duration
	retry          time.Duration
	floor          time.Duration
	maxDelay       time.Duration
	maxRetries     int
	lifecycle      Lifecycle
	resume         func(context.Context, string) (*http.Request, error)
	maxElapsed     time.Duration
	newBackOff     func() backoff.BackOff
	maxLine        int
	maxEvent       int
	allowPlainHTTP bool
	authExpired    string
	maxAge         time.Duration
	log            *slog.Logger
	onComment      func(string)
	onAttempt      func(Attempt)
}

// settings resolves c's defaults into a private copy and checks them.
func (c *Client) settings() (*settings, error) {
	s := &settings{
		base:           c.HTTPClient,
		auth:           c.Auth,
		lastEventID:    c.LastEventID,
		idle:           orDefault(c.IdleTimeout, 90*time.Second),
		retry:          orDefault(c.RetryDelay, time.Second),
		floor:          orDefault(c.MinRetryDelay, 500*time.Millisecond),
		maxDelay:       orDefault(c.MaxRetryDelay, 30*time.Second),
		lifecycle:      c.Lifecycle,
		resume:         c.Resume,
		maxRetries:     c.MaxRetries,
		maxElapsed:     c.MaxElapsed,
		newBackOff:     c.Backoff,
		maxLine:        c.MaxLineSize,
		maxEvent:       c.MaxEventSize,
		allowPlainHTTP: c.AllowPlainHTTP,
		authExpired:    c.AuthExpiredEvent,
		maxAge:         c.MaxConnAge,
		log:            c.Logger,
		onComment:      c.OnComment,
		onAttempt:      c.OnAttempt,
	}
	if s.base == nil {
		s.base = &http.Client{Transport: defaultTransport}
	}
	if s.floor < 0 {
		s.floor = 0
	}
	if s.retry < 0 || s.maxDelay < 0 || s.maxRetries < 0 || s.maxElapsed < 0 || s.maxAge < 0 {
		return nil, &PermanentError{Err: errors.New("sse: Client has a negative delay, age or retry count; use 0 for the default")}
	}
	if s.authExpired == "" {
		s.authExpired = "auth_expired"
	}
	if s.lifecycle > Finite {
		return nil, &PermanentError{Err: fmt.Errorf("sse: unknown Client.Lifecycle %d", int(s.lifecycle))}
	}
	if hasCtl(s.lastEventID) {
		return nil, &PermanentError{Err: errors.New("sse: Client.LastEventID holds a control character; it cannot be sent as a header")}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// defaultTransport is the transport of the default HTTP client: the
// standard one with timeouts for the phases before a stream opens.
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	t.TLSHandshakeTimeout = 10 * time.Second
	return t
}()

// Attempt describes one connection attempt, or the end of a connection,
// as reported to Client.OnAttempt.
type Attempt struct {
	// N counts the failures in a row, this one included: after an attempt
	// that opened the stream, the failures before it plus one. It is 0
	// for the end of a connection that delivered events, which is routine
	// for a stream and no failure.
	N int

	URL string // the request URL, query values redacted

	// StatusCode and Header are those of the response that opened the
	// stream, or refused to; 0 and nil when no response arrived or for
	// the end of a connection.
	StatusCode int
	Header     http.Header

	// Err is why the attempt failed or the connection ended; nil when the
	// attempt opened the stream and when the server ended it normally.
	Err error

	Ended bool          // the report is of an open connection's end, not of an attempt
	Delay time.Duration // the wait before the next attempt; 0 when Final
	Final bool          // the stream ends here, with Err (nil: normally)
}

// Connect opens a GET event stream at url. It returns once the first
// response has opened the stream, or with the error that made the first
// attempt fail for good; retryable failures before that are retried (see
// MaxRetries). ctx governs the whole life of the Stream: cancelling it ends
// the stream as Close does, with ctx's error. If ctx ends before the
// stream opened, the error wraps both ctx's error and the last attempt's.
func (c *Client) Connect(ctx context.Context, url string) (*Stream, error) {
	req, err := getRequest(ctx, url)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// getRequest builds the GET request for url without letting the URL, which
// may hold a credential, into an error.
func getRequest(ctx context.Context, url string) (*http.Request, error) {
	u, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://placeholder/", nil)
	if err != nil {
		return nil, fmt.Errorf("sse: %w", err)
	}
	req.URL = u
	req.Host = ""
	return req, nil
}

// Do opens an event stream with req: any method, headers and body. Each
// attempt sends a fresh copy of req with its body re-read through
// req.GetBody (a body without GetBody is read into memory once, up to 16
// MiB). req.Context() governs the whole life of the Stream, as ctx does for
// Connect. Whether req is sent again after the stream ends is
// Client.Lifecycle's choice: a POST is not, by default.
func (c *Client) Do(req *http.Request) (*Stream, error) {
	r, err := c.newRunner(req)
	if err != nil {
		return nil, err
	}
	return startStream(req.Context(), r)
}

// Events opens an event stream with req, as Do does, and returns its
// events as an iterator that runs in the caller's goroutine: connecting,
// reading, reconnecting and waiting between attempts all happen inside the
// loop, with no goroutine and no channel of the SDK's own.
//
//	for ev, err := range c.Events(req) {
//		if err != nil {
//			return err // why the stream ended
//		}
//		fmt.Println(ev.Data)
//	}
//
// The loop ends when the stream ends: normally (the server answered 204,
// or ended a finite stream), with one final error, or when req.Context()
// ends (that error is the last one yielded). Breaking out of the loop
// closes the connection. OnComment and OnAttempt run in the caller's
// goroutine, in stream order. Each range over the iterator opens a new
// stream.
func (c *Client) Events(req *http.Request) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		r, err := c.newRunner(req)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer r.close()
		r.pull(req.Context(), yield)
	}
}
