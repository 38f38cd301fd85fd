// Command cookie reads an event stream protected by a session cookie: it
// logs in with a form post, keeps the session cookie in a cookie jar, and
// logs in again when the server refuses the session (a 401, or an
// auth_expired event before the server closes the stream).
//
//	SSE_PASSWORD=... go run ./examples/cookie \
//		-login-url https://app.example.com/login -url https://app.example.com/events
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ssekit/sse"
)

var (
	eventsURL = flag.String("url", os.Getenv("SSE_URL"), "event stream `URL` (env SSE_URL)")
	loginURL  = flag.String("login-url", os.Getenv("SSE_LOGIN_URL"), "login form `URL` (env SSE_LOGIN_URL); it is posted password=$SSE_PASSWORD")
	count     = flag.Int("n", 0, "stop after `n` events; 0: run until interrupted")
)

// stdout receives the events; tests replace it.
var stdout io.Writer = os.Stdout

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cookie:", err)
		os.Exit(1)
	}
}

func run() error {
	if *eventsURL == "" || *loginURL == "" {
		return fmt.Errorf("-url and -login-url are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	login := func(ctx context.Context) error {
		form := url.Values{"password": {os.Getenv("SSE_PASSWORD")}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, *loginURL, strings.NewReader(form.Encode()))
		if err != nil {
			return &sse.PermanentError{Err: fmt.Errorf("sse example: bad -login-url")}
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		resp, err := hc.Do(req)
		if err != nil {
			return err // retried by the Client
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			// A refused password will not get better by retrying.
			return &sse.PermanentError{Err: fmt.Errorf("sse example: login refused: %s", resp.Status)}
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("sse example: login failed: %s", resp.Status)
		}
		return nil
	}
	if err := login(ctx); err != nil {
		return err
	}

	// Cookies sends the jar's cookies on every attempt and calls login
	// again when the server refuses the session.
	c := &sse.Client{Auth: sse.SessionCookies(jar, login)}
	s, err := c.Connect(ctx, *eventsURL)
	if err != nil {
		return err
	}
	defer s.Close()
	n := 0
	for ev := range s.Events() {
		fmt.Fprintf(stdout, "id=%s type=%s data=%s\n", ev.ID, ev.Type, ev.Data)
		if n++; n == *count {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted
	}
	return s.Err()
}
