package sse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Client opens event streams and keeps them open: it reconnects with
// backoff, resumes with Last-Event-ID, honours the server's retry: field and
// takes credentials from an AuthSource.
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

	// RetryDelay is the base reconnection delay until the server sends a
	// retry: field, which then replaces it for the life of the Stream. If
	// 0, 1s is used.
	RetryDelay time.Duration

	// MinRetryDelay is the floor of every delay, so that retry: 0 or a
	// server that accepts and closes at once cannot cause a hot loop. If 0,
	// 500ms is used; a negative value means no floor.
	MinRetryDelay time.Duration

	// MaxRetryDelay caps the exponential growth of the delay and the
	// Retry-After the client honours. If 0, 30s is used. Jitter of up to
	// half the delay is added on top, never subtracted.
	MaxRetryDelay time.Duration

	// HealthyAfter is how long a connection must stay open before the
	// delay growth resets to the base. If 0, 10s is used.
	HealthyAfter time.Duration

	// MaxRetries is the number of consecutive failed attempts after which
	// the Stream gives up. If 0, it never gives up on retryable errors.
	MaxRetries int

	// MaxElapsed is how long the Stream keeps retrying since the first
	// failure in a row before it gives up. If 0, it never gives up.
	MaxElapsed time.Duration

	// Backoff, if set, is called once per Stream to make the policy that
	// replaces the built-in exponential one (RetryDelay, MaxRetryDelay and
	// the jitter are then not used). Returning backoff.Stop from
	// NextBackOff gives up. The server's retry:, Retry-After and
	// MinRetryDelay still bound each delay from below.
	Backoff func() backoff.BackOff

	// MaxLineSize and MaxEventSize are the parser's limits; if 0,
	// DefaultMaxLineSize and DefaultMaxEventSize are used. A stream that
	// exceeds one ends with an error wrapping ErrEventTooLarge.
	MaxLineSize, MaxEventSize int

	// AllowInsecure permits credentials (an Auth source or a cookie Jar) to
	// travel over plain http to hosts other than loopback. By default such
	// a request fails before any I/O.
	AllowInsecure bool

	// AuthExpiredEvent is the event type a server sends before it closes a
	// stream whose credentials have expired: the client then calls
	// Auth.Refresh and reconnects at once, resuming with Last-Event-ID.
	// Such an event is not delivered. If empty, "auth_expired" is used.
	AuthExpiredEvent string

	// MaxConnAge, if positive, makes the client close and reopen a
	// connection after it has been open that long, so that credentials are
	// checked again. If 0, connections are kept as long as they work.
	MaxConnAge time.Duration

	// Logger receives connection state and retries. If nil, nothing is
	// logged. No credential ever appears in a record.
	Logger *slog.Logger

	// OnComment, if set, is called with each comment line's text (the
	// part after the colon, one leading space removed), from the Stream's
	// goroutine. It must not block for long.
	OnComment func(comment string)

	// OnAttempt, if set, is called after each connection attempt, from the
	// Stream's goroutine. It must not block for long.
	OnAttempt func(Attempt)
}

// Attempt describes one connection attempt, as reported to
// Client.OnAttempt.
type Attempt struct {
	N     int           // attempts since the last good open, from 1
	URL   string        // the request URL, query values redacted
	Err   error         // nil when the attempt opened the stream
	Delay time.Duration // the wait before the next attempt, when Err is retried
	Final bool          // Err ended the Stream
}

// Stream is one logical event stream that survives reconnections. Its
// methods are safe for concurrent use. Events arrive on the channel that
// Events returns; a single goroutine per Stream reads the connection and
// waits when the caller does not receive, so a slow consumer slows the
// server down instead of growing memory.
type Stream struct {
	events chan Event
	done   chan struct{}
	cancel context.CancelCauseFunc
	force  chan struct{}

	idMu   sync.Mutex // guards lastID; a plain string costs no allocation to store
	lastID string

	mu     sync.Mutex
	err    error
	closed bool
	r      *runner // while the goroutine runs, for Reconnect
}

// errClosed is the cause with which Close cancels a Stream.
var errClosed = errors.New("sse: stream closed")

// Events returns the channel on which events arrive, in order, each once.
// It is closed when the stream ends for good; Err then says why.
func (s *Stream) Events() <-chan Event { return s.events }

// Err returns why the stream ended: nil while it runs, after Close and
// after the server answered 204; otherwise the error that ended it (the
// caller's context error, or an error that is permanent or made the
// Stream give up).
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// LastEventID returns the last event ID the reader has passed, which the
// next attempt sends as Last-Event-ID. It includes IDs set by blocks that
// dispatched no event.
//
// The reader runs ahead of the caller by the events waiting in the channel,
// so this is not the caller's position: to resume after a restart, persist
// the ID of the last event you handled (Event.ID) and pass it as
// Client.LastEventID.
func (s *Stream) LastEventID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return s.lastID
}

// Reconnect closes the current connection, if one is open, and connects
// again at once; a Stream waiting in backoff stops waiting. It returns
// without waiting for the new connection.
func (s *Stream) Reconnect() {
	s.mu.Lock()
	r := s.r
	s.mu.Unlock()
	if r != nil {
		r.forceReconnect()
	}
	select {
	case s.force <- struct{}{}:
	default:
	}
}

// Close ends the stream: the connection is closed, the goroutine exits and
// the Events channel is closed before Close returns; no event is delivered
// after that. Close is idempotent, safe to call concurrently and always
// returns nil.
func (s *Stream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel(errClosed)
	<-s.done
	return nil
}

// Connect opens a GET event stream at url. It returns once the first
// response has opened the stream, or with the error that made the first
// attempt fail for good; retryable failures before that are retried (see
// MaxRetries). ctx governs the whole life of the Stream: cancelling it ends
// the stream as Close does, with ctx's error.
func (c *Client) Connect(ctx context.Context, url string) (*Stream, error) {
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
	return c.Do(req)
}

// Do opens an event stream with req: any method, headers and body. Each
// attempt sends a fresh copy of req with its body re-read through
// req.GetBody (a body without GetBody is read into memory once, up to 16
// MiB). req.Context() governs the whole life of the Stream, as ctx does for
// Connect.
func (c *Client) Do(req *http.Request) (*Stream, error) {
	if req == nil || req.URL == nil {
		return nil, &PermanentError{Err: errors.New("sse: Do needs a request with a URL")}
	}
	cfg, err := c.settings()
	if err != nil {
		return nil, err
	}
	tmpl, err := newTemplate(req, cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	s := &Stream{
		events: make(chan Event, eventBuffer),
		done:   make(chan struct{}),
		cancel: cancel,
		force:  make(chan struct{}, 1),
	}
	s.lastID = cfg.lastEventID
	r := &runner{cfg: cfg, s: s, tmpl: tmpl, ready: make(chan error, 1)}
	r.hc = cfg.httpClient(r)
	go r.run(ctx)
	if err := <-r.ready; err != nil {
		<-s.done
		return nil, err
	}
	return s, nil
}

// eventBuffer is the capacity of a Stream's channel: enough to keep the
// reader busy while the consumer takes a few events, small enough that a
// consumer that stops receiving stops the reader.
const eventBuffer = 16

// settings is a Client's configuration with its defaults resolved.
type settings struct {
	base          *http.Client
	auth          AuthSource
	lastEventID   string
	idle          time.Duration
	retry         time.Duration
	floor         time.Duration
	maxDelay      time.Duration
	healthy       time.Duration
	maxRetries    int
	maxElapsed    time.Duration
	newBackOff    func() backoff.BackOff
	maxLine       int
	maxEvent      int
	allowInsecure bool
	authExpired   string
	maxAge        time.Duration
	log           *slog.Logger
	onComment     func(string)
	onAttempt     func(Attempt)
}

// settings resolves c's defaults into a private copy and checks them.
func (c *Client) settings() (*settings, error) {
	s := &settings{
		base:          c.HTTPClient,
		auth:          c.Auth,
		lastEventID:   c.LastEventID,
		idle:          orDefault(c.IdleTimeout, 90*time.Second),
		retry:         orDefault(c.RetryDelay, time.Second),
		floor:         orDefault(c.MinRetryDelay, 500*time.Millisecond),
		maxDelay:      orDefault(c.MaxRetryDelay, 30*time.Second),
		healthy:       orDefault(c.HealthyAfter, 10*time.Second),
		maxRetries:    c.MaxRetries,
		maxElapsed:    c.MaxElapsed,
		newBackOff:    c.Backoff,
		maxLine:       c.MaxLineSize,
		maxEvent:      c.MaxEventSize,
		allowInsecure: c.AllowInsecure,
		authExpired:   c.AuthExpiredEvent,
		maxAge:        c.MaxConnAge,
		log:           c.Logger,
		onComment:     c.OnComment,
		onAttempt:     c.OnAttempt,
	}
	if s.base == nil {
		s.base = &http.Client{Transport: defaultTransport}
	}
	if s.floor < 0 {
		s.floor = 0
	}
	if s.retry < 0 || s.maxDelay < 0 || s.healthy < 0 || s.maxRetries < 0 || s.maxElapsed < 0 || s.maxAge < 0 {
		return nil, &PermanentError{Err: errors.New("sse: Client has a negative delay, age or retry count; use 0 for the default")}
	}
	if s.authExpired == "" {
		s.authExpired = "auth_expired"
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
