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

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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

// serveToken is the OAuth2 token endpoint (RFC 6749 sections 4.4 and 6).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if s.o.ClientID != "" && (!equal(id, s.o.ClientID) || !equal(secret, s.o.ClientSecret)) {
		s.mu.Lock()
		s.stats.Rejected++
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			s.stats.Rejected++
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(s.refresh, rt) // refresh tokens rotate
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	tok, _ := s.issueTokenLocked()
	rt := randomString()
	s.refresh[rt] = true
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  tok,
		"token_type":    "Bearer",
		"expires_in":    int(s.o.TokenTTL / time.Second),
		"refresh_token": rt,
	})
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// serveLogin checks the password and starts a cookie session.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if s.o.Password != "" && !equal(r.PostFormValue("password"), s.o.Password) {
		s.reject(w, "")
		return
	}
	id := randomString()
	s.mu.Lock()
	s.sessions[id] = s.o.Now().Add(s.o.SessionTTL)
	s.stats.Logins++
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// principal returns the expiry of the valid bearer token or session r
// carries, and whether it carries one.
func (s *Server) principal(r *http.Request) (time.Time, bool) {
	if exp, ok := s.bearer(r); ok {
		return exp, true
	}
	return s.session(r)
}

func (s *Server) bearer(r *http.Request) (time.Time, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.bearers[h[7:]]
	if !ok || !s.o.Now().Before(exp) {
		return time.Time{}, false
	}
	return exp, true
}

func (s *Server) session(r *http.Request) (time.Time, bool) {
	c, err := r.Cookie("session")
	if err != nil {
		return time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[c.Value]
	if !ok || !s.o.Now().Before(exp) {
		return time.Time{}, false
	}
	return exp, true
}

// serveTicket sells a one-time ticket to a bearer token or a session.
func (s *Server) serveTicket(w http.ResponseWriter, r *http.Request) {
	exp, ok := s.principal(r)
	if !ok {
		s.reject(w, `Bearer realm="ticket"`)
		return
	}
	t := randomString()
	s.mu.Lock()
	s.tickets[t] = exp
	s.ticketAt[t] = s.o.Now().Add(s.o.TicketTTL)
	s.stats.TicketsIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"ticket": t})
}

// queryClaims is the signed payload of a query token.
type queryClaims struct {
	Scope string `json:"scope"`
	IAT   int64  `json:"iat"` // unix milliseconds
	EXP   int64  `json:"exp"` // unix milliseconds
	Nonce string `json:"nonce"`
}

func (s *Server) sign(payload []byte) string {
	m := hmac.New(sha256.New, s.o.Key)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// serveQueryToken mints a signed query token of scope "sse".
func (s *Server) serveQueryToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	pexp, ok := s.principal(r)
	if !ok {
		s.reject(w, `Bearer realm="query-token"`)
		return
	}
	now := s.o.Now()
	exp := now.Add(s.o.QueryTokenTTL)
	if pexp.Before(exp) {
		exp = pexp
	}
	c := queryClaims{Scope: "sse", IAT: now.UnixMilli(), EXP: exp.UnixMilli(), Nonce: randomString()}
	payload, _ := json.Marshal(c)
	tok := base64.RawURLEncoding.EncodeToString(payload) + "." + s.sign(payload)
	s.mu.Lock()
	s.stats.QueryTokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_in": int(exp.Sub(now) / time.Second)})
}

// verifyQueryToken checks signature, scope and life of a query token.
func (s *Server) verifyQueryToken(tok string) (time.Time, bool) {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.sign(payload))) {
		return time.Time{}, false
	}
	var c queryClaims
	if json.Unmarshal(payload, &c) != nil || c.Scope != "sse" || c.EXP-c.IAT > MaxQueryTokenTTL.Milliseconds() {
		return time.Time{}, false
	}
	exp := time.UnixMilli(c.EXP)
	if !s.o.Now().Before(exp) {
		return time.Time{}, false
	}
	return exp, true
}

func (s *Server) serveBearerEvents(w http.ResponseWriter, r *http.Request) {
	exp, ok := s.bearer(r)
	if !ok {
		s.reject(w, `Bearer realm="events", error="invalid_token"`)
		return
	}
	s.stream(w, r, func() bool {
		e, ok := s.bearer(r)
		return ok && !s.o.Now().After(e)
	}, exp)
}

func (s *Server) serveCookieEvents(w http.ResponseWriter, r *http.Request) {
	exp, ok := s.session(r)
	if !ok {
		s.reject(w, "")
		return
	}
	s.stream(w, r, func() bool { _, ok := s.session(r); return ok }, exp)
}

func (s *Server) serveTokenEvents(w http.ResponseWriter, r *http.Request) {
	exp, ok := s.verifyQueryToken(r.URL.Query().Get("token"))
	if !ok {
		s.reject(w, "")
		return
	}
	s.stream(w, r, nil, exp)
}

func (s *Server) serveTicketEvents(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("ticket")
	s.mu.Lock()
	exp, ok := s.tickets[t] // get and delete in one critical section
	at := s.ticketAt[t]
	delete(s.tickets, t)
	delete(s.ticketAt, t)
	if ok && !s.o.Now().Before(at) {
		ok = false
	}
	if !ok {
		s.stats.TicketReplays++
	}
	s.mu.Unlock()
	if !ok {
		s.reject(w, "")
		return
	}
	s.stream(w, r, nil, exp)
}

// stream writes events after the request's Last-Event-ID until the client
// goes, Options.Events were sent, or the credential expires (exp passes by
// the clock, or valid, if not nil, says false).
func (s *Server) stream(w http.ResponseWriter, r *http.Request, valid func() bool, exp time.Time) {
	s.mu.Lock()
	s.stats.StreamsOpened++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if s.o.Retry > 0 {
		fmt.Fprintf(w, "retry: %d\n\n", s.o.Retry.Milliseconds())
	}
	_ = rc.Flush()
	next := 1
	if n, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil && n >= 0 {
		next = n + 1
	}
	tick := time.NewTicker(s.o.Interval)
	defer tick.Stop()
	for sent := 0; s.o.Events == 0 || sent < s.o.Events; sent++ {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if s.o.Now().After(exp) || (valid != nil && !valid()) {
			s.mu.Lock()
			s.stats.Expired++
			s.mu.Unlock()
			fmt.Fprintf(w, "event: %s\ndata: credentials expired\n\n", s.o.ExpiredEvent)
			_ = rc.Flush()
			return
		}
		if _, err := fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", next, next); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		next++
	}
}
