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

// This file holds main and the service: the harness's HTTP API (status,
// create, command, delete, quit) and the set of streams it runs. One stream
// is in stream.go, its restartable transport in cutter.go.

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
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
