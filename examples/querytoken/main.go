// Command querytoken reads an event stream whose credential is a
// short-lived token in the query string (the pattern for servers that
// cannot take headers, like those written for the browser's EventSource).
// Before every connection attempt it gets a fresh token from a token
// endpoint, authenticating there with a long-lived bearer token, so a token
// in the query is never older than one attempt.
//
//	SSE_TOKEN=... go run ./examples/querytoken \
//		-url https://api.example.com/events -token-url https://api.example.com/query-token
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssekit/sse"
)

var (
	eventsURL = flag.String("url", os.Getenv("SSE_URL"), "event stream `URL` (env SSE_URL)")
	tokenURL  = flag.String("token-url", os.Getenv("SSE_TOKEN_URL"), "`URL` that answers {\"token\": ...} (env SSE_TOKEN_URL); it is sent SSE_TOKEN as a bearer token")
	param     = flag.String("param", "token", "query parameter that carries the token")
	count     = flag.Int("n", 0, "stop after `n` events; 0: run until interrupted")
)

// stdout receives the events; tests replace it.
var stdout io.Writer = os.Stdout

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "querytoken:", err)
		os.Exit(1)
	}
}

func run() error {
	if *eventsURL == "" || *tokenURL == "" {
		return fmt.Errorf("-url and -token-url are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	c := &sse.Client{Auth: sse.QueryToken(*param, fetchToken)}
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

var httpClient = &http.Client{Timeout: 30 * time.Second}

// fetchToken asks the token endpoint for a short-lived token. Its errors
// say what went wrong without repeating the answer's body.
func fetchToken(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *tokenURL, nil)
	if err != nil {
		return "", &sse.PermanentError{Err: errors.New("sse example: bad -token-url")}
	}
	req.Header.Set("Authorization", "Bearer "+os.Getenv("SSE_TOKEN"))
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", err // the SDK redacts and retries it
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		return "", &sse.PermanentError{Err: fmt.Errorf("sse example: token endpoint answered %s", resp.Status)}
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("sse example: token endpoint answered %s", resp.Status)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		return "", errors.New("sse example: token endpoint's answer is not JSON")
	}
	return body.Token, nil
}
