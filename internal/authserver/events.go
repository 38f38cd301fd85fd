package authserver

// This file holds the four event-stream endpoints, one per way of
// authenticating, and the stream they share.

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

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
