package main

// This file holds the four scenarios of the tour, one per auth source, and
// the loop that prints a stream's events.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/ssekit/sse"
	"github.com/ssekit/sse/internal/authserver"
	"golang.org/x/oauth2"
)

// demoBearer reads a bearer-protected stream. The gateway revokes the
// access token just before the third connection, as if it had expired
// between two connections: the server answers 401, Bearer fetches a new
// token, and the stream resumes where it stopped.
func demoBearer(ctx context.Context, lg *logger, gw *gateway, c *sse.Client, base string) error {
	gw.revokeBearerOn(3)
	s, err := c.Connect(ctx, base+"/events/bearer")
	if err != nil {
		return err
	}
	defer s.Close()
	return consume(lg, s, "8")
}

// demoTicket reads a ticket-protected stream (each attempt buys a new
// ticket with a bearer token), then replays the last ticket the server
// took.
func demoTicket(ctx context.Context, lg *logger, gw *gateway, newClient func(sse.AuthSource) *sse.Client, tokens oauth2.TokenSource, base string) error {
	ts := &sse.TicketSource{URL: base + "/ticket", Auth: sse.Bearer(tokens)}
	s, err := newClient(ts).Connect(ctx, base+"/events/ticket")
	if err != nil {
		return err
	}
	err = consume(lg, s, "5")
	s.Close()
	if err != nil {
		return err
	}

	used := gw.lastTicket()
	lg.printf("client │ now connecting again with the last ticket the server accepted (a replay)")
	replay := sse.QueryToken("ticket", func(context.Context) (string, error) { return used, nil })
	s, err = newClient(replay).Connect(ctx, base+"/events/ticket")
	if err == nil {
		s.Close()
		return errors.New("the server accepted a replayed ticket")
	}
	var st *sse.StatusError
	var ae *sse.AuthError
	if !errors.As(err, &st) || st.Code != http.StatusUnauthorized || !errors.As(err, &ae) {
		return fmt.Errorf("replay: unexpected error: %w", err)
	}
	lg.printf("client │ replayed ticket refused: Connect returned %v", err)
	lg.printf("client │ (errors.As finds *sse.AuthError and *sse.StatusError with Code %d)", st.Code)
	return nil
}

// demoCookie logs in, reads the session-protected stream, and has the
// server revoke the session mid-stream: the server sends auth_expired and
// closes; the SessionCookies source logs in again and the stream resumes.
func demoCookie(ctx context.Context, lg *logger, gw *gateway, newClient func(sse.AuthSource) *sse.Client, auth *authserver.Server, base string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	login := func(ctx context.Context) error {
		lg.printf("client │ logging in with the password form")
		hc := &http.Client{Jar: jar}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login",
			strings.NewReader(url.Values{"password": {password}}.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return &sse.PermanentError{Err: fmt.Errorf("sse demo: login answered %d", resp.StatusCode)}
		}
		return nil
	}
	if err := login(ctx); err != nil {
		return err
	}
	s, err := newClient(sse.SessionCookies(jar, login)).Connect(ctx, base+"/events/cookie")
	if err != nil {
		return err
	}
	defer s.Close()
	revoked := false
	return consumeFunc(lg, s, "4", func(ev sse.Event) {
		if !revoked && ev.ID == "1" {
			revoked = true
			u, _ := url.Parse(base)
			for _, ck := range jar.Cookies(u) {
				if ck.Name == "session" {
					auth.Revoke(ck.Value)
				}
			}
			lg.printf("server │ (demo) session revoked by the server while the stream is open")
		}
	})
}

// demoQueryToken reads a stream whose credential is a signed token in the
// query, fetched (with a bearer token) before every attempt.
func demoQueryToken(ctx context.Context, lg *logger, newClient func(sse.AuthSource) *sse.Client, tokens oauth2.TokenSource, base string) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	fetch := func(ctx context.Context) (string, error) {
		tok, err := tokens.Token()
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query-token", nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct {
			Token     string `json:"token"`
			ExpiresIn int    `json:"expires_in"`
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("sse demo: query-token endpoint answered %d", resp.StatusCode)
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
			return "", err
		}
		lg.printf("client │ got a query token that expires in %ds", body.ExpiresIn)
		return body.Token, nil
	}
	s, err := newClient(sse.QueryToken("token", fetch)).Connect(ctx, base+"/events/token")
	if err != nil {
		return err
	}
	defer s.Close()
	return consume(lg, s, "5")
}

// consume prints s's events until the one with ID last.
func consume(lg *logger, s *sse.Stream, last string) error {
	return consumeFunc(lg, s, last, nil)
}

// consumeFunc is consume with a hook run after each event is printed.
func consumeFunc(lg *logger, s *sse.Stream, last string, after func(sse.Event)) error {
	for ev := range s.Events() {
		lg.printf("client │ event  id=%s type=%s data=%q", ev.ID, ev.Type, ev.Data)
		if after != nil {
			after(ev)
		}
		if ev.ID == last {
			lg.printf("client │ got event %s; closing the stream", last)
			return nil
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	return errors.New("the stream ended early")
}
