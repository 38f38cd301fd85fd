package sse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
	if hasCtlAny(s.lastEventID) {
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

// httpClient makes the private copy of the base client that r uses.
func (s *settings) httpClient(r *runner) *http.Client {
	hc := *s.base
	r.headerTimeout = hc.Timeout
	hc.Timeout = 0
	userCheck := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := r.checkRedirect(req, via); err != nil {
			return err
		}
		if userCheck != nil {
			return userCheck(req, via)
		}
		return nil
	}
	if hc.Jar != nil {
		hc.Jar = &originJar{jar: hc.Jar, origin: origin(r.tmpl.url)}
	}
	return &hc
}

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

// isLoopback reports whether host names this machine's loopback interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// origin returns u's scheme, host and port, the port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// originJar shows the wrapped jar's cookies only to requests for one
// origin, so that a redirect elsewhere carries no cookie.
type originJar struct {
	jar    http.CookieJar
	origin string
}

func (j *originJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if origin(u) == j.origin {
		j.jar.SetCookies(u, cookies)
	}
}

func (j *originJar) Cookies(u *url.URL) []*http.Cookie {
	if origin(u) != j.origin {
		return nil
	}
	return j.jar.Cookies(u)
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

// safeRedirectHeaders are the request headers that may follow a redirect to
// another origin; every other one may be a credential and is dropped.
var safeRedirectHeaders = map[string]bool{
	"Accept":          true,
	"Accept-Encoding": true,
	"Accept-Language": true,
	"Cache-Control":   true,
	"Content-Type":    true,
	"Last-Event-Id":   true,
	"User-Agent":      true,
}

// checkRedirect enforces the credential rule on each redirect hop: a hop
// to another origin (scheme, host or port) keeps only headers that carry no
// credential, and no hop carries a Referer the caller did not set.
func (r *runner) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("sse: stopped after 10 redirects")
	}
	if origin(req.URL) != origin(r.tmpl.url) {
		for name := range req.Header {
			if !safeRedirectHeaders[http.CanonicalHeaderKey(name)] {
				delete(req.Header, name)
			}
		}
		// A Location that repeats the query must not carry the
		// credentials the AuthSource put there.
		if len(r.credQuery) > 0 && req.URL.RawQuery != "" {
			q := req.URL.Query()
			for name, values := range q {
				kept := slices.DeleteFunc(values, func(v string) bool { return slices.Contains(r.credQuery, v) })
				if len(kept) == 0 {
					q.Del(name)
				} else {
					q[name] = kept
				}
			}
			req.URL.RawQuery = q.Encode()
		}
		return nil
	}
	if !r.callerRefr {
		req.Header.Del("Referer")
	}
	return nil
}
