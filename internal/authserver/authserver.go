// Package authserver is a reference event-stream server for the four ways
// servers commonly authenticate Server-Sent Events, for tests and demos:
//
//   - cookie session: POST /login sets a session cookie; GET /events/cookie
//     needs it.
//   - short-lived query token: GET or POST /query-token (with a bearer token
//     or a session) answers {"token": "...", "expires_in": N}, a signed token
//     of scope "sse" that lives at most 60 s; GET /events/token?token=...
//   - one-time ticket: POST /ticket (with a bearer token or a session)
//     answers {"ticket": "..."}; GET /events/ticket?ticket=... takes the
//     ticket out of the store atomically, so a replayed ticket gets 401.
//   - bearer: POST /token is an OAuth2 token endpoint (client_credentials
//     and refresh_token grants); GET /events/bearer needs
//     "Authorization: Bearer". An expired or revoked token gets 401.
//
// Every stream sends events "id: N", "data: event N", resuming after the
// request's Last-Event-ID. When the credential that opened a stream expires
// (by the Options.Now clock), the server sends an event of type
// Options.ExpiredEvent ("auth_expired") and closes the stream.
package authserver

// This file holds the Server, its Options and Stats, and the helpers every
// endpoint uses. The credential endpoints are in credentials.go, the event
// streams in events.go.

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// MaxQueryTokenTTL is the longest life of a query token.
const MaxQueryTokenTTL = 60 * time.Second

// Options configure a Server. The zero value is usable.
type Options struct {
	// Now is the clock for every expiry. If nil, time.Now is used.
	Now func() time.Time

	// ClientID and ClientSecret are the OAuth2 client credentials /token
	// accepts (HTTP Basic or form). Empty: any client is accepted.
	ClientID, ClientSecret string

	// Password is what /login accepts in its "password" form field.
	// Empty: any password is accepted.
	Password string

	// TokenTTL is the life of a bearer access token; 0: 5 minutes.
	TokenTTL time.Duration
	// SessionTTL is the life of a cookie session; 0: 30 minutes.
	SessionTTL time.Duration
	// QueryTokenTTL is the life of a query token; 0 or more than
	// MaxQueryTokenTTL: MaxQueryTokenTTL.
	QueryTokenTTL time.Duration
	// TicketTTL is how long an unused ticket stays valid; 0: 30 seconds.
	TicketTTL time.Duration

	// Interval is the real time between two events; 0: 100ms.
	Interval time.Duration
	// Events is how many events a connection gets before the server
	// closes it (to make clients reconnect); 0: no limit.
	Events int
	// ExpiredEvent is the type of the event sent before a stream whose
	// credential expired is closed; "": "auth_expired".
	ExpiredEvent string
	// Retry, if positive, is sent as the stream's "retry:" field.
	Retry time.Duration

	// Key signs query tokens. Nil: a random key.
	Key []byte
}

// Stats counts what a Server did.
type Stats struct {
	TokensIssued      int // access tokens from /token
	Logins            int // sessions from /login
	TicketsIssued     int // tickets from /ticket
	QueryTokensIssued int // tokens from /query-token
	StreamsOpened     int // streams that got a 200
	Rejected          int // answers of 401 on every path
	TicketReplays     int // tickets presented that were unknown, used or expired
	Expired           int // streams closed with the expired event
}

// Server serves the endpoints described in the package doc. It is an
// http.Handler, safe for concurrent use.
type Server struct {
	o   Options
	mux *http.ServeMux

	mu       sync.Mutex
	bearers  map[string]time.Time // access token -> expiry
	refresh  map[string]bool      // valid refresh tokens
	sessions map[string]time.Time // session id -> expiry
	tickets  map[string]time.Time // ticket -> expiry of the credential that bought it
	ticketAt map[string]time.Time // ticket -> its own expiry
	stats    Stats
}

// New returns a Server with the options o.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 5 * time.Minute
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 30 * time.Minute
	}
	if o.QueryTokenTTL <= 0 || o.QueryTokenTTL > MaxQueryTokenTTL {
		o.QueryTokenTTL = MaxQueryTokenTTL
	}
	if o.TicketTTL <= 0 {
		o.TicketTTL = 30 * time.Second
	}
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.ExpiredEvent == "" {
		o.ExpiredEvent = "auth_expired"
	}
	if o.Key == nil {
		o.Key = []byte(randomString())
	}
	s := &Server{
		o:        o,
		mux:      http.NewServeMux(),
		bearers:  map[string]time.Time{},
		refresh:  map[string]bool{},
		sessions: map[string]time.Time{},
		tickets:  map[string]time.Time{},
		ticketAt: map[string]time.Time{},
	}
	s.mux.HandleFunc("POST /token", s.serveToken)
	s.mux.HandleFunc("POST /login", s.serveLogin)
	s.mux.HandleFunc("POST /ticket", s.serveTicket)
	s.mux.HandleFunc("/query-token", s.serveQueryToken)
	s.mux.HandleFunc("/events/bearer", s.serveBearerEvents)
	s.mux.HandleFunc("/events/cookie", s.serveCookieEvents)
	s.mux.HandleFunc("/events/token", s.serveTokenEvents)
	s.mux.HandleFunc("/events/ticket", s.serveTicketEvents)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// IssueToken mints a bearer access token as /token would, for tests.
func (s *Server) IssueToken() (token string, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueTokenLocked()
}

// Revoke invalidates an access token, refresh token or session id at once.
func (s *Server) Revoke(credential string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bearers, credential)
	delete(s.refresh, credential)
	delete(s.sessions, credential)
}

func (s *Server) issueTokenLocked() (string, time.Time) {
	tok := randomString()
	exp := s.o.Now().Add(s.o.TokenTTL)
	s.bearers[tok] = exp
	s.stats.TokensIssued++
	return tok, exp
}

func randomString() string {
	return rand.Text()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) reject(w http.ResponseWriter, challenge string) {
	s.mu.Lock()
	s.stats.Rejected++
	s.mu.Unlock()
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}
