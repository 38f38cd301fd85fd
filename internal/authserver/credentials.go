package authserver

// This file holds the endpoints that hand out credentials (/token, /login,
// /ticket, /query-token) and the checks of a bearer token, a session and a
// query token.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

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
