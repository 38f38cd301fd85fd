package main

// This file holds the gateway in front of the auth server: it prints what
// the server sees (credentials only by kind) and plays the server's parts
// that the demo needs to be deterministic.

import (
	"net/http"
	"strings"
	"sync"

	"github.com/ssekit/sse/internal/authserver"
)

// gateway sits in front of the auth server: it prints each request as a
// "server" line (without any credential), and plays the parts of the
// server that the demo needs to be deterministic.
type gateway struct {
	next http.Handler
	auth *authserver.Server
	lg   *logger

	mu          sync.Mutex
	bearerConns int
	revokeOn    int      // revoke the bearer token on this /events/bearer request
	ticket      string   // the last ticket presented on /events/ticket
	seen        []string // every credential value received, for the test
}

func (g *gateway) revokeBearerOn(n int) {
	g.mu.Lock()
	g.revokeOn = n
	g.mu.Unlock()
}

func (g *gateway) lastTicket() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ticket
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var notes []string
	switch r.URL.Path {
	case "/events/bearer":
		g.mu.Lock()
		g.bearerConns++
		revoke := g.bearerConns == g.revokeOn
		g.mu.Unlock()
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && revoke {
			g.auth.Revoke(tok)
			g.lg.printf("server │ (demo) the access token has been revoked, as if it had expired")
		}
	case "/events/ticket":
		g.mu.Lock()
		g.ticket = r.URL.Query().Get("ticket")
		g.mu.Unlock()
	}
	g.remember(r)
	if scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		notes = append(notes, "Authorization: "+scheme+" …")
	}
	if r.Header.Get("Cookie") != "" {
		notes = append(notes, "Cookie: session=…")
	}
	for name := range r.URL.Query() {
		notes = append(notes, "?"+name+"=…")
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		notes = append(notes, "Last-Event-ID: "+id)
	}
	rw := &recorder{ResponseWriter: w, g: g, req: r.Method + " " + r.URL.Path, notes: strings.Join(notes, ", ")}
	g.next.ServeHTTP(rw, r)
	if rw.code == http.StatusOK && strings.HasPrefix(r.URL.Path, "/events/") && r.Context().Err() == nil {
		if rw.expired {
			g.lg.printf("server │ credentials no longer valid: sent an auth_expired event and closed the stream")
		} else {
			g.lg.printf("server │ closed the stream after %d events (forced disconnect)", rw.events)
		}
	}
}

// remember notes the credential values r carries.
func (g *gateway) remember(r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, v, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		g.seen = append(g.seen, v)
	}
	for _, ck := range r.Cookies() {
		g.seen = append(g.seen, ck.Value)
	}
	for _, vs := range r.URL.Query() {
		g.seen = append(g.seen, vs...)
	}
}

// recorder prints the status line of a response when it is written.
type recorder struct {
	http.ResponseWriter
	g          *gateway
	req, notes string
	code       int
	events     int
	expired    bool
}

func (rw *recorder) WriteHeader(code int) {
	rw.code = code
	line := rw.req
	if rw.notes != "" {
		line += " [" + rw.notes + "]"
	}
	rw.g.lg.printf("server │ %s → %d %s", line, code, http.StatusText(code))
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.code == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if strings.HasPrefix(string(p), "id: ") {
		rw.events++
	}
	if strings.HasPrefix(string(p), "event: auth_expired") {
		rw.expired = true
	}
	return rw.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the Flusher underneath.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
