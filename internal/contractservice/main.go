// Command contractservice is the test service that LaunchDarkly's SSE
// contract tests (github.com/launchdarkly/sse-contract-tests) drive: the
// harness asks it over HTTP to open streams with sse.Client and reads back,
// through per-stream callback URLs, every event, comment and error the
// client saw.
//
//	go run ./internal/contractservice -port 8000
//	sse-test-harness -url http://127.0.0.1:8000
//
// It listens on 127.0.0.1 only and opens streams and callbacks only to
// loopback hosts. Each stream is read with the pull form (Client.Events) in
// one goroutine, which also posts the callbacks, so that events, comments
// (Client.OnComment) and errors (Client.OnAttempt) reach the harness in
// stream order. The restart command cuts the current connection through
// the stream's transport, as a dropped connection would be cut, and the
// client reconnects as it does after any loss.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssekit/sse"
)

// capabilities are the harness's optional features this service supports.
var capabilities = []string{
	"bom",
	"comments",
	"headers",
	"last-event-id",
	"post",
	"read-timeout",
	"report",
	"restart",
	"server-directed-shutdown-request",
}

func main() {
	port := flag.Int("port", 8000, "port to listen on, on 127.0.0.1")
	verbose := flag.Bool("v", false, "log each stream's lifecycle")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		log.Fatal(err)
	}
	svc := newService(ln.Addr().String())
	if *verbose {
		svc.logf = log.Printf
	}
	log.Printf("contractservice listening on http://%s", ln.Addr())
	if err := svc.serve(ctx, ln); err != nil {
		log.Fatal(err)
	}
}

// service is the test service: the status resource and the streams it
// runs.
type service struct {
	base     string // the service's own URL, for the Location of a stream
	logf     func(format string, args ...any)
	sseTrans *http.Transport // for the streams
	cbClient *http.Client    // for the callbacks
	quit     chan struct{}   // closed by DELETE /
	quitOnce sync.Once

	mu      sync.Mutex
	streams map[string]*stream
	nextID  int
}

func newService(addr string) *service {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // loopback only: never through a proxy
	ct := t.Clone()
	return &service{
		base:     "http://" + addr,
		logf:     func(string, ...any) {},
		sseTrans: t,
		cbClient: &http.Client{Transport: ct, Timeout: 10 * time.Second},
		quit:     make(chan struct{}),
		streams:  make(map[string]*stream),
	}
}

// serve answers on ln until ctx ends or the harness sends DELETE /, then
// closes every stream.
func (s *service) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case <-s.quit:
	case err := <-errc:
		s.closeAll()
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	s.closeAll()
	return err
}

// closeAll stops every stream and releases the idle connections.
func (s *service) closeAll() {
	s.mu.Lock()
	all := s.streams
	s.streams = make(map[string]*stream)
	s.mu.Unlock()
	for _, st := range all {
		st.close()
	}
	s.sseTrans.CloseIdleConnections()
	s.cbClient.CloseIdleConnections()
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.status)
	mux.HandleFunc("DELETE /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		s.quitOnce.Do(func() { close(s.quit) })
	})
	mux.HandleFunc("POST /{$}", s.create)
	mux.HandleFunc("POST /streams/{id}", s.command)
	mux.HandleFunc("DELETE /streams/{id}", s.delete)
	return mux
}

func (s *service) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name":         "ssekit-sse",
		"capabilities": capabilities,
	})
}

// streamParams is the body of the harness's "create stream" request.
type streamParams struct {
	Tag            string            `json:"tag"`
	CallbackURL    string            `json:"callbackUrl"`
	StreamURL      string            `json:"streamUrl"`
	InitialDelayMS *int64            `json:"initialDelayMs"`
	ReadTimeoutMS  *int64            `json:"readTimeoutMs"`
	LastEventID    string            `json:"lastEventId"`
	Method         string            `json:"method"`
	Body           string            `json:"body"`
	Headers        map[string]string `json:"headers"`
}

func (s *service) create(w http.ResponseWriter, r *http.Request) {
	var p streamParams
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&p); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	st, err := s.newStream(p)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.nextID++
	id := strconv.Itoa(s.nextID)
	s.streams[id] = st
	s.mu.Unlock()
	s.logf("stream %s: open %s %s (%s)", id, st.req.Method, p.StreamURL, p.Tag)
	go st.run()
	w.Header().Set("Location", s.base+"/streams/"+id)
	w.WriteHeader(http.StatusCreated)
}

func (s *service) command(w http.ResponseWriter, r *http.Request) {
	st := s.lookup(r.PathValue("id"))
	if st == nil {
		http.NotFound(w, r)
		return
	}
	var cmd struct {
		Command string `json:"command"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cmd); err != nil {
		http.Error(w, "bad JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch cmd.Command {
	case "restart":
		s.logf("stream %s: restart", r.PathValue("id"))
		st.cut.restart()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "unknown command "+strconv.Quote(cmd.Command), http.StatusBadRequest)
	}
}

func (s *service) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	st := s.streams[id]
	delete(s.streams, id)
	s.mu.Unlock()
	if st == nil {
		http.NotFound(w, r)
		return
	}
	st.close()
	s.logf("stream %s: closed", id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *service) lookup(id string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[id]
}

// stream is one client stream the harness asked for.
type stream struct {
	client   *sse.Client
	req      *http.Request
	cut      *cutter
	callback string
	cbClient *http.Client
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{}

	// Used only by run's goroutine.
	seq           int  // the last callback's number
	reportedFinal bool // OnAttempt reported the error that ends the stream
}

// newStream maps the harness's parameters onto an sse.Client and its
// request.
func (s *service) newStream(p streamParams) (*stream, error) {
	streamURL, err := loopbackURL("streamUrl", p.StreamURL)
	if err != nil {
		return nil, err
	}
	if _, err := loopbackURL("callbackUrl", p.CallbackURL); err != nil {
		return nil, err
	}
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithCancel(context.Background())
	var body io.Reader
	if p.Body != "" {
		body = strings.NewReader(p.Body) // sets GetBody: the body is sent again on each reconnection
	}
	req, err := http.NewRequestWithContext(ctx, method, streamURL.String(), body)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	if p.Body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	}

	st := &stream{
		req:      req,
		cut:      &cutter{base: s.sseTrans},
		callback: strings.TrimSuffix(p.CallbackURL, "/"),
		cbClient: s.cbClient,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	c := &sse.Client{
		HTTPClient:    &http.Client{Transport: st.cut},
		LastEventID:   p.LastEventID,
		Lifecycle:     sse.Resumable, // EventSource semantics, POST and REPORT too
		MinRetryDelay: time.Millisecond,
		OnComment:     st.onComment,
		OnAttempt:     st.onAttempt,
	}
	if d := p.InitialDelayMS; d != nil {
		if *d < 0 {
			cancel()
			return nil, errors.New("initialDelayMs is negative")
		}
		c.RetryDelay = max(time.Duration(*d)*time.Millisecond, time.Millisecond)
	}
	if d := p.ReadTimeoutMS; d != nil {
		if *d < 0 {
			cancel()
			return nil, errors.New("readTimeoutMs is negative")
		}
		if *d > 0 {
			c.IdleTimeout = time.Duration(*d) * time.Millisecond
		}
	}
	st.client = c
	return st, nil
}

// loopbackURL parses an http URL whose host must be a loopback address.
func loopbackURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s must be an http URL, got %q", name, raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s must point to a loopback host, got %q", name, host)
	}
	return u, nil
}

// run reads the stream and posts what it sees, in stream order, until the
// stream ends or is closed.
func (st *stream) run() {
	defer close(st.done)
	for ev, err := range st.client.Events(st.req) {
		if err != nil {
			// An error the engine ended the stream with was already
			// reported by OnAttempt; one from before any attempt (a bad
			// setting) was not. A closed stream reports nothing.
			if st.ctx.Err() == nil && !st.reportedFinal {
				st.post(message{Kind: "error", Error: err.Error()})
			}
			return
		}
		st.post(message{Kind: "event", Event: &eventMessage{Type: ev.Type, Data: ev.Data, ID: ev.ID}})
	}
}

func (st *stream) onComment(c string) {
	st.post(message{Kind: "comment", Comment: c})
}

// onAttempt reports each failed attempt and each connection that ended
// with an error, except the connection the restart command cut.
func (st *stream) onAttempt(a sse.Attempt) {
	if a.Ended && st.cut.takeRestart() {
		return
	}
	if a.Err == nil {
		return
	}
	if a.Final {
		st.reportedFinal = true
	}
	st.post(message{Kind: "error", Error: a.Err.Error()})
}

// close stops the stream and waits for its goroutine.
func (st *stream) close() {
	st.cancel()
	<-st.done
}

type message struct {
	Kind    string        `json:"kind"`
	Event   *eventMessage `json:"event,omitempty"`
	Comment string        `json:"comment,omitempty"`
	Error   string        `json:"error,omitempty"`
}

type eventMessage struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// post sends m to the next numbered callback URL. The harness sorts the
// callbacks by number, but posting them one at a time from the stream's
// goroutine also keeps them in order on the wire.
func (st *stream) post(m message) {
	if st.ctx.Err() != nil {
		return
	}
	st.seq++
	body, err := json.Marshal(m)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(st.ctx, http.MethodPost, st.callback+"/"+strconv.Itoa(st.seq), bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := st.cbClient.Do(req)
	if err != nil {
		return // the harness closed the endpoint: the test is over
	}
	resp.Body.Close()
}

// errRestart is the cause with which the restart command cuts a
// connection.
var errRestart = errors.New("contractservice: restart command")

// cutter is the stream's transport. It gives each connection its own
// context, so that the restart command can cut the current one as a
// dropped connection would be cut; the client then reconnects as it does
// after any loss, with Last-Event-ID.
type cutter struct {
	base http.RoundTripper

	mu      sync.Mutex
	current *cutBody // the open connection's body, if any

	restarting atomic.Bool // a connection was cut and its end not yet seen
}

func (c *cutter) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	resp, err := c.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel(nil)
		return nil, err
	}
	b := &cutBody{ReadCloser: resp.Body, cancel: cancel, c: c}
	c.mu.Lock()
	c.current = b
	c.mu.Unlock()
	resp.Body = b
	return resp, nil
}

// restart cuts the current connection, if one is open.
func (c *cutter) restart() {
	c.mu.Lock()
	b := c.current
	c.current = nil
	c.mu.Unlock()
	if b != nil {
		c.restarting.Store(true)
		b.cancel(errRestart)
	}
}

// takeRestart reports whether the connection that just ended was cut by
// restart.
func (c *cutter) takeRestart() bool { return c.restarting.Swap(false) }

// cutBody releases its connection's context when the client closes it.
type cutBody struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
	c      *cutter
}

func (b *cutBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	b.c.mu.Lock()
	if b.c.current == b {
		b.c.current = nil
	}
	b.c.mu.Unlock()
	return err
}
